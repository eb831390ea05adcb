"""The training loop shared by both trainer modes (payload fine-tuning and track heads).

``fit`` runs ``epochs`` x ``steps`` optimisation steps of a Sonnet module with Adam, and after
every epoch: evaluates on the eval dataset, appends a row to ``training_log.tsv`` (the original
scripts' ``epoch train_loss valid_loss`` table, plus Pearson r on the eval set), writes
TensorBoard scalars, redraws ``training_curve.png`` and saves a checkpoint; every step also
logs ``step/loss`` and ``step/learning_rate`` to TensorBoard and advances a progress bar with
ETA. A rerun with the same
``work_dir`` resumes after the last completed epoch: the checkpoint holds the model, the
optimiser state and the epoch counter, and the training data stream is advanced past the
batches already consumed, so an interrupted run continues where it stopped (only dropout noise,
drawn from TensorFlow's stateful generators, differs from an uninterrupted run).
"""
from __future__ import annotations

import csv
import dataclasses
import itertools
import logging
import math
import os
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import sonnet as snt
import tensorflow as tf

from components.correlation import pearson_r
from components.progress import progress_bar
from trainer import checkpoints, distribute
from trainer.precision import step_scope
from trainer.tracing import batch_polymorphic

LOG = logging.getLogger(__name__)

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
LOG_COLUMNS = ("epoch", "train_loss", "valid_loss", "valid_pearson_r", "seconds")


def mse_loss(labels: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
    """Mean squared error over all elements (payload activity: ``[B]`` vs ``[B]``)."""
    return tf.reduce_mean(tf.square(tf.cast(labels, tf.float32) - tf.cast(predictions, tf.float32)))


def poisson_loss(labels: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
    """Poisson negative log-likelihood (up to a constant) for track targets ``[B, bins, T]``."""
    predictions = tf.cast(predictions, tf.float32)
    return tf.reduce_mean(predictions - tf.cast(labels, tf.float32) * tf.math.log(predictions + 1e-6))


@dataclasses.dataclass
class FitConfig:
    """Optimisation settings (defaults: the original fine-tuning script)."""

    learning_rate: float = 1e-5
    epochs: int = 10
    steps: int = 100
    jit_compile: bool = False
    clip_norm: Optional[float] = None
    # "constant", or "cosine": decay to 0 over epochs x steps, so the last epochs settle
    # (steadier weights and batch-norm statistics for the exported model).
    schedule: str = "constant"
    precision: str = "float32"  # or "bfloat16": trainer.precision
    recompute: bool = False  # gradient checkpointing: trainer.recompute

    def learning_rate_at(self, step: int) -> float:
        """Learning rate for the 0-based global ``step``."""
        if self.schedule == "constant":
            return self.learning_rate
        if self.schedule == "cosine":
            progress = min(step / max(1, self.epochs * self.steps), 1.0)
            return self.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))
        raise ValueError(f"unknown learning-rate schedule {self.schedule!r} (constant, cosine)")


@dataclasses.dataclass
class EpochResult:
    epoch: int
    train_loss: float
    valid_loss: float
    valid_pearson_r: float
    seconds: float


class Trainer:
    """Adam training of ``model(inputs, is_training) -> predictions`` with resumable checkpoints.

    Args:
      model: a Sonnet module; only ``variables`` (default: ``model.trainable_variables``) train.
      loss_fn: ``loss(labels, predictions) -> scalar``.
      work_dir: checkpoints, TensorBoard logs, ``training_log.tsv`` and ``training_curve.png``.
      variables: optional explicit list of variables to train (e.g. a head on a frozen trunk).
      strategy: a tf.distribute strategy the model was built under (:mod:`trainer.distribute`);
        batches are global and split over its replicas.
    """

    def __init__(
        self,
        model: snt.Module,
        loss_fn: LossFn,
        config: FitConfig,
        work_dir: str,
        variables: Optional[Sequence[tf.Variable]] = None,
        strategy: Optional[tf.distribute.Strategy] = None,
    ):
        self.model = model
        self.strategy = strategy
        self.loss_fn = loss_fn
        self.config = config
        self.work_dir = work_dir
        self._variables = variables
        with distribute.scope(strategy):
            # A variable, so a schedule can change it without retracing the train step.
            self._learning_rate = tf.Variable(config.learning_rate, dtype=tf.float32, trainable=False,
                                              name="learning_rate")
            self.optimizer = snt.optimizers.Adam(learning_rate=self._learning_rate)
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="completed_epochs")
        distribute.create_optimizer_slots(strategy, self.optimizer, self.variables)
        tf.io.gfile.makedirs(work_dir)
        self._checkpoint = checkpoints.training_checkpoint(model, self.optimizer, self.epoch)
        self._manager = tf.train.CheckpointManager(
            self._checkpoint, os.path.join(work_dir, checkpoints.TRAINING_CHECKPOINT_DIR), max_to_keep=2)
        self._writer = tf.summary.create_file_writer(os.path.join(work_dir, "logs"))
        # Traced once each (slots exist, the model has no tensor-dependent Python control flow, so
        # no autograph); tracing is most of a short run's time.
        self._train_step = tf.function(self._train_step_eager, jit_compile=config.jit_compile,
                                       reduce_retracing=True, autograph=False)
        # Evaluation passes end with a smaller batch: one trace for every batch size.
        self._predict = batch_polymorphic(self._predict_eager)

    @property
    def variables(self) -> Sequence[tf.Variable]:
        return self._variables if self._variables is not None else self.model.trainable_variables

    def _predict_eager(self, inputs: tf.Tensor) -> tf.Tensor:
        with step_scope(self.config.precision, training=False):
            return self.model(inputs, is_training=False)

    def _train_step_eager(self, inputs: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        return distribute.run_replicated(self.strategy, self._replica_step, inputs, labels)

    def _replica_step(self, inputs: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """One step on this replica's slice of the global batch; gradients averaged over replicas."""
        inputs, labels = distribute.replica_slice(inputs, labels)
        with step_scope(self.config.precision, self.config.recompute), tf.GradientTape() as tape:
            loss = self.loss_fn(labels, self.model(inputs, is_training=True))
        gradients = distribute.mean_over_replicas(tape.gradient(loss, self.variables))
        if self.config.clip_norm:
            gradients, _ = tf.clip_by_global_norm(gradients, self.config.clip_norm)
        self.optimizer.apply(gradients, self.variables)
        return loss

    def train_step(self, inputs: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """One optimisation step on ``(inputs, labels)`` (traced per input signature); the loss."""
        return self._train_step(inputs, labels)

    def restore(self) -> int:
        """Restore the latest checkpoint in ``work_dir`` if any; returns completed epochs."""
        latest = self._manager.latest_checkpoint
        if latest:
            # Optimiser slots are created lazily by the first apply(), so they may be deferred.
            self._checkpoint.restore(latest).assert_existing_objects_matched()
            LOG.info("resumed from %s after epoch %d", latest, int(self.epoch.numpy()))
        return int(self.epoch.numpy())

    def evaluate(self, eval_batches: Iterator) -> Dict[str, float]:
        """Mean loss and Pearson r over one pass of ``eval_batches`` (flattened labels)."""
        losses, weights, labels_all, predictions_all = [], [], [], []
        for inputs, labels in eval_batches:
            predictions = self._predict(inputs)
            losses.append(float(self.loss_fn(labels, predictions)))
            weights.append(int(labels.shape[0]))
            labels_all.append(np.asarray(labels, np.float64).ravel())
            predictions_all.append(np.asarray(predictions, np.float64).ravel())
        if not losses:
            raise ValueError("evaluation dataset is empty")
        return {
            "loss": float(np.average(losses, weights=weights)),
            "pearson_r": pearson_r(np.concatenate(labels_all), np.concatenate(predictions_all)),
        }

    def fit(self, train_batches: Callable[[int], Iterator], eval_batches: Callable[[], Iterator],
            initialize: Optional[Callable[[tf.Tensor, tf.Tensor], None]] = None) -> List[EpochResult]:
        """Train until ``config.epochs`` epochs are complete (resuming if checkpoints exist).

        Args:
          train_batches: ``skip -> iterator`` over the infinite, deterministic stream of
            ``(inputs, labels)`` training batches, starting after ``skip`` batches.
          eval_batches: callable returning a fresh iterator over one evaluation pass.
          initialize: ``(inputs, labels) -> None`` run on the first training batch (which then
            trains as usual) when no training checkpoint exists, i.e. only at a fresh start:
            data-dependent initialisation that a resume's restore would overwrite anyway.
        Returns:
          One result per epoch run in this call.
        """
        start_epoch = self.restore()
        fresh = start_epoch == 0  # checkpoints are saved after whole epochs only
        # Skip what the interrupted run already consumed, so resuming replays nothing.
        iterator = train_batches(start_epoch * self.config.steps)
        if fresh and initialize is not None:
            first = next(iterator)
            with distribute.scope(self.strategy):
                initialize(*first)
            iterator = itertools.chain([first], iterator)
        results = []
        epochs, steps = self.config.epochs, self.config.steps
        with progress_bar(epochs * steps, "training", unit="step", initial=start_epoch * steps) as bar:
            for epoch in range(start_epoch + 1, epochs + 1):
                started = time.time()
                losses = []
                for step in range(steps):
                    inputs, labels = next(iterator)
                    global_step = (epoch - 1) * steps + step
                    learning_rate = self.config.learning_rate_at(global_step)
                    self._learning_rate.assign(learning_rate)
                    losses.append(float(self._train_step(inputs, labels)))
                    self._record_step(global_step + 1, losses[-1], learning_rate)
                    bar.set_postfix_str(f"epoch {epoch}/{epochs} loss {np.mean(losses):.4f}", refresh=False)
                    bar.update(1)
                    if (step + 1) % max(1, steps // 4) == 0:
                        LOG.info("epoch %d/%d step %d/%d loss %.5f", epoch, epochs, step + 1, steps, np.mean(losses))
                evaluation = self.evaluate(eval_batches())
                result = EpochResult(epoch, float(np.mean(losses)), evaluation["loss"], evaluation["pearson_r"],
                                     time.time() - started)
                results.append(result)
                self._record(result)
                self.epoch.assign(epoch)
                self._manager.save(checkpoint_number=epoch)
        return results

    def _record_step(self, step: int, loss: float, learning_rate: float) -> None:
        """Per-step TensorBoard scalars (``step`` counts from 1 over all epochs)."""
        with self._writer.as_default():
            tf.summary.scalar("step/loss", loss, step=step)
            tf.summary.scalar("step/learning_rate", learning_rate, step=step)

    def _record(self, result: EpochResult) -> None:
        LOG.info(
            "epoch %d train_loss %.5f valid_loss %.5f valid_r %.3f (%.1fs)",
            result.epoch, result.train_loss, result.valid_loss, result.valid_pearson_r, result.seconds,
        )
        with self._writer.as_default():
            tf.summary.scalar("loss/train", result.train_loss, step=result.epoch)
            tf.summary.scalar("loss/valid", result.valid_loss, step=result.epoch)
            tf.summary.scalar("valid/pearson_r", result.valid_pearson_r, step=result.epoch)
        self._writer.flush()
        log_path = os.path.join(self.work_dir, "training_log.tsv")
        rows = read_training_log(log_path)
        rows = [row for row in rows if int(row["epoch"]) < result.epoch] + [
            {k: getattr(result, k) for k in LOG_COLUMNS}
        ]
        # Written beside and renamed: a kill mid-write must not leave a truncated log for the resume to read.
        partial = log_path + ".partial"
        with tf.io.gfile.GFile(partial, "w") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS, delimiter="\t")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (f"{float(v):.6g}" if k != "epoch" else int(v)) for k, v in row.items()})
        tf.io.gfile.rename(partial, log_path, overwrite=True)
        plot_training_curve(rows, os.path.join(self.work_dir, "training_curve.png"))


def read_training_log(path: str) -> List[Dict[str, float]]:
    """Rows of ``training_log.tsv`` (empty list if it does not exist yet)."""
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle, delimiter="\t")]


def plot_training_curve(rows: Sequence[Dict[str, float]], path: str) -> None:
    """Train/valid loss per epoch (and valid r on a second axis) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [int(row["epoch"]) for row in rows]
    figure, loss_axis = plt.subplots(figsize=(6, 4))
    loss_axis.plot(epochs, [row["train_loss"] for row in rows], "o-", label="train loss")
    loss_axis.plot(epochs, [row["valid_loss"] for row in rows], "s-", label="valid loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss")
    losses = np.array([row[key] for row in rows for key in ("train_loss", "valid_loss")], dtype=float)
    if np.all(losses[np.isfinite(losses)] > 0):
        loss_axis.set_yscale("log")  # one early spike would otherwise flatten the rest of the curve
    r_axis = loss_axis.twinx()
    r_axis.plot(epochs, [row["valid_pearson_r"] for row in rows], "^--", color="tab:green", label="valid r")
    r_axis.set_ylabel("valid Pearson r")
    handles = loss_axis.get_legend_handles_labels()[0] + r_axis.get_legend_handles_labels()[0]
    labels = loss_axis.get_legend_handles_labels()[1] + r_axis.get_legend_handles_labels()[1]
    loss_axis.legend(handles, labels, loc="center right")  # r sits high, losses low
    figure.tight_layout()
    with tf.io.gfile.GFile(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)
