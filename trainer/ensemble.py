"""An ensemble of payload heads on the fine-tuned trunk, for uncertainty (``model.ensemble: K``).

After fine-tuning, the trunk is frozen and its embeddings of the payload windows are computed
once (memory-mapped under ``work_dir``). Member 0 is the fine-tuned payload head itself;
members ``1..K-1`` are fresh heads of the same architecture (attention -> pooling ->
``Dense(1, softplus)``) trained on the cached embeddings, each on its own bootstrap resample of
the training windows and from its own initialisation, so they disagree where the data
constrain the head least. Training a head costs no trunk pass.

Exported model (:class:`PayloadEnsemble`, see :mod:`trainer.export`): ``activity`` = member
mean ``[B]``, ``activity_sd`` = member standard deviation (population) ``[B]``,
``activity_members`` ``[B, K]``.

How well the spread tracks the error is measured on the held-out (eval) windows and written to
``uncertainty.json`` beside the training log: Spearman rho of ``sd`` vs ``|mean - label|`` and
the coverage of ``mean +- 2 sd``.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import numpy as np
import sonnet as snt
import tensorflow as tf

from components.correlation import spearman_rho
from trainer import encoding, inputs
from trainer.enformer import call_layer, no_autograph
from trainer.heads import PayloadModel
from trainer.tracing import batch_polymorphic
from trainer.training import FitConfig, Trainer, mse_loss

LOG = logging.getLogger(__name__)
UNCERTAINTY_FILE = "uncertainty.json"
CACHE_OFFSETS = 4  # fixed windows per training payload in the embedding cache


class PayloadHeadOnly(snt.Module):
    """A payload model's head on cached embeddings: ``[B, bins, C] -> [B, 1]`` (no trunk)."""

    def __init__(self, payload: PayloadModel, name: str = "payload_head"):
        super().__init__(name=name)
        self.layers = list(payload._layers[1:])  # noqa: SLF001 - attention, pooling, dense

    @no_autograph
    def __call__(self, embedding: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        x = embedding
        for layer in self.layers:
            x = call_layer(layer, x, is_training)
        return x


class PayloadEnsemble(snt.Module):
    """Fine-tuned trunk + K payload heads: ``[B, L, 4]`` one-hot -> members ``[B, K]``.

    ``members[0]`` is the fine-tuned :class:`PayloadModel` (its checkpoint stays the original
    format); the others share its trunk.
    """

    def __init__(self, members: Sequence[PayloadModel], name: str = "payload_ensemble"):
        super().__init__(name=name)
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = list(members)

    @property
    def enformer(self) -> Any:
        return self.members[0].enformer

    @property
    def head_config(self) -> Dict[str, Any]:
        return dict(self.members[0].head_config, ensemble=len(self.members))

    @no_autograph
    def __call__(self, one_hot: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        embedding = self.enformer.trunk(one_hot, is_training=False)
        return tf.concat([member.head(embedding, is_training=False) for member in self.members], axis=-1)


def embed_windows(dataset: tf.data.Dataset, trunk_fn, directory: str, name: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(embeddings [N, bins, C] memory map, labels [N])`` of a ``(one_hot, activity)`` dataset."""
    os.makedirs(directory, exist_ok=True)
    labels: List[np.ndarray] = []
    path = os.path.join(directory, f"{name}.npy")
    # Batches are written to a temporary raw file so RAM holds one batch of embeddings at a time.
    raw_path = path + ".raw"
    shape = None
    count = 0
    with open(raw_path, "wb") as raw:
        for one_hot, activity in dataset:
            embedding = np.asarray(trunk_fn(one_hot), dtype=np.float32)
            shape = embedding.shape[1:]
            raw.write(embedding.tobytes())
            labels.append(np.asarray(activity, np.float32))
            count += embedding.shape[0]
    if not count:
        raise ValueError(f"no payload windows for the {name} embedding cache")
    stored = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(count,) + tuple(shape))
    stored[:] = np.memmap(raw_path, dtype=np.float32, mode="r", shape=(count,) + tuple(shape))
    stored.flush()
    os.remove(raw_path)
    return np.load(path, mmap_mode="r"), np.concatenate(labels)


def _bootstrap_batches(embeddings: np.ndarray, labels: np.ndarray, batch: int, seed: int) -> Iterator:
    """Infinite batches over one bootstrap resample (drawn once), reshuffled every pass."""
    rng = np.random.default_rng(seed)
    sample = rng.integers(0, len(labels), size=len(labels))
    batch = min(batch, len(sample))
    while True:
        order = rng.permutation(sample)
        for start in range(0, len(order) - batch + 1, batch):
            rows = np.sort(order[start:start + batch])
            yield tf.constant(embeddings[rows]), tf.constant(labels[rows])


def member_predictions(heads: Sequence[snt.Module], embeddings: np.ndarray, batch: int = 64) -> np.ndarray:
    """``[N, K]`` predictions of every head on cached embeddings."""
    columns = []
    for head in heads:
        fn = batch_polymorphic(lambda x, head=head: head(x, is_training=False))
        values = [np.asarray(fn(tf.constant(embeddings[s:s + batch])))[:, 0] for s in range(0, len(embeddings), batch)]
        columns.append(np.concatenate(values))
    return np.stack(columns, axis=1)


def uncertainty_report(members: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
    """Calibration of the member spread on held-out windows (``members [N, K]``, ``labels [N]``)."""
    mean, sd = members.mean(axis=1), members.std(axis=1)
    error = np.abs(mean - labels)
    return {
        "windows": int(labels.size),
        "members": int(members.shape[1]),
        "spearman_sd_abs_error": spearman_rho(sd, error),
        "coverage_2sd": float(np.mean(error <= 2 * sd)),
        "mean_sd": float(sd.mean()),
        "mean_abs_error": float(error.mean()),
    }


def train_ensemble(payload: PayloadModel, size: int, train_files: Sequence[str], eval_files: Sequence[str],
                   window: int, fit: FitConfig, batch: int, seed: int, reverse_complement: bool,
                   eval_offsets: int, work_dir: str) -> Tuple[PayloadEnsemble, Dict[str, float]]:
    """Train members ``1..size-1`` on the cached embeddings of ``payload``'s trunk (see module doc)."""
    trunk = batch_polymorphic(lambda x: payload.enformer.trunk(x, is_training=False))
    cache_dir = os.path.join(work_dir, "ensemble_cache")
    train_data = inputs.payload_dataset(train_files, window, 16, training=False, num_eval_offsets=CACHE_OFFSETS)
    if reverse_complement:  # both strands of every cached window
        train_data = train_data.concatenate(train_data.map(lambda x, y: (encoding.reverse_complement_one_hot(x), y)))
    train_embeddings, train_labels = embed_windows(train_data, trunk, cache_dir, "train")
    eval_data = inputs.payload_dataset(eval_files, window, 16, training=False, num_eval_offsets=eval_offsets)
    eval_embeddings, eval_labels = embed_windows(eval_data, trunk, cache_dir, "eval")
    LOG.info("ensemble: %d cached training windows, %d held-out windows; training %d extra heads",
             len(train_labels), len(eval_labels), size - 1)
    members = [payload]
    for k in range(1, size):
        tf.random.set_seed(seed + 1000 * k)  # each member its own initialisation
        member = PayloadModel(payload.enformer, **{key: payload.head_config[key] for key in
                                                   ("key_size", "value_size", "num_heads", "pooling")},
                              input_length=window)
        head = PayloadHeadOnly(member)
        trainer = Trainer(head, lambda labels, predictions: mse_loss(labels, tf.squeeze(predictions, -1)), fit,
                          os.path.join(work_dir, "ensemble", f"member-{k}"))
        trainer.fit(lambda skip, k=k: _skip(_bootstrap_batches(train_embeddings, train_labels, batch, seed + k), skip),
                    lambda: ((tf.constant(eval_embeddings[s:s + batch]), tf.constant(eval_labels[s:s + batch]))
                             for s in range(0, len(eval_labels), batch)))
        members.append(member)
    ensemble = PayloadEnsemble(members)
    report = uncertainty_report(member_predictions([PayloadHeadOnly(m) for m in members], eval_embeddings), eval_labels)
    LOG.info("ensemble of %d on %d held-out windows: Spearman(sd, |error|) = %.3f, coverage of mean +- 2 sd = %.3f",
             size, report["windows"], report["spearman_sd_abs_error"], report["coverage_2sd"])
    with tf.io.gfile.GFile(os.path.join(work_dir, UNCERTAINTY_FILE), "w") as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
    return ensemble, report


def _skip(iterator: Iterator, count: int) -> Iterator:
    for _ in range(count):
        next(iterator)
    return iterator
