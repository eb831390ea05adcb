"""The TFX Trainer entry point (``run_fn='trainer.run.run_fn'``) and the same training for the CLI.

Two modes, chosen by ``training.mode`` in the Trainer's ``custom_config``:

``finetune``
    Payload activity. Enformer trunk + payload head, both trainable (the original fine-tunes the
    whole trunk), MSE loss, Adam. Starting weights: the latest blessed model when the pipeline's
    Resolver provides one and ``training.warm_start`` is on (iterative improvement across assay
    batches), else ``model.baseline`` (checkpoint / tensorhub / explicit ``random``).
``tracks``
    BigWig tracks; the number of tracks comes from the ``dataset_info.json`` that
    BigWigTrackGen writes next to the splits. ``training.trunk: frozen``: a new
    ``Dense(n_tracks, softplus)`` head on the frozen trunk, trained on trunk embeddings computed
    once into an on-disk cache (:mod:`trainer.embedding_cache`). ``training.trunk: train``:
    the trunk and its species head ``training.species`` trained together
    (:mod:`trainer.trunk_training`); the weights are saved in the published Enformer layout, so
    ``model.baseline`` of a later run loads them like DeepMind's.

Model artifact layout (``<model>/`` is the Trainer's output URI)::

    <model>/Format-Serving/                 SavedModel (serving_default + predict_one_hot)
    <model>/Format-Serving/assets.extra/weights/   tf.train.Checkpoint in the original format
    <model>/training_log.tsv, training_curve.png  per-epoch table and curve
    <model_run>/                            checkpoints (resume) and TensorBoard logs
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import tensorflow as tf

from components import records
from components.errors import InputError
from trainer import checkpoints, distribute
from trainer import ensemble as ensemble_lib
from trainer import export as export_lib
from trainer import inputs
from trainer import trunk_training
from trainer.embedding_cache import EmbeddingCache
from trainer.enformer import Enformer
from trainer.heads import HeadOnly, PayloadModel, TrackModel
from trainer.settings import BIN_SIZE, ModelConfig, TrainingConfig, from_custom_config
from trainer.tracing import batch_polymorphic
from trainer.training import EpochResult, FitConfig, Trainer, mse_loss

LOG = logging.getLogger(__name__)


def fit_config(training: TrainingConfig) -> FitConfig:
    return FitConfig(training.resolved_learning_rate, training.epochs, training.steps, training.jit_compile,
                     schedule=training.lr_schedule, precision=training.precision, recompute=training.recompute)


def build_enformer(model_config: ModelConfig) -> Enformer:
    """The trunk from ``model.baseline`` (``random`` only when asked for explicitly)."""
    loaded = checkpoints.load_enformer(model_config.baseline, config=model_config.preset, **model_config.overrides)
    if not isinstance(loaded, Enformer):
        raise InputError(
            f"baseline {model_config.baseline!r} is a TF Hub model, which exposes predictions only: fine-tuning "
            "and track heads need the Sonnet checkpoint (directory of the published sonnet_weights)"
        )
    return loaded


def build_payload_model(model_config: ModelConfig, warm_start: Optional[str] = None,
                        trunk_batch_norm: str = "batch") -> PayloadModel:
    """Payload model from a previous (blessed) model's weights, or from the baseline trunk;
    ``trunk_batch_norm`` as :class:`PayloadModel` takes it."""
    if warm_start:
        LOG.info("warm start from %s", warm_start)
        loaded = checkpoints.load_payload_model(
            checkpoints.weights_dir(warm_start), model_config.key_size, model_config.value_size, model_config.num_heads,
            config=model_config.preset, input_length=model_config.window_length, **model_config.overrides,
        )
        if loaded.pooling != model_config.pooling:
            raise InputError(f"warm-start model {warm_start} has pooling {loaded.pooling!r}, config asks for {model_config.pooling!r}")
        loaded.trunk_batch_norm = trunk_batch_norm
        return loaded
    return PayloadModel(
        build_enformer(model_config), model_config.key_size, model_config.value_size, model_config.num_heads,
        pooling=model_config.pooling, input_length=model_config.window_length, trunk_batch_norm=trunk_batch_norm,
    )


def _save_outputs(model: Any, trainer: Trainer, serving_dir: str, window_length: int, metadata: Dict[str, Any],
                  exported: Any = None, saved_model: bool = True) -> None:
    """SavedModel (of ``exported``, default ``model``; unless ``saved_model`` is off: written
    already) + ``model``'s original-format weights into ``serving_dir``; log, curve and
    ensemble calibration beside it."""
    if saved_model:
        export_lib.export_saved_model(exported if exported is not None else model, serving_dir, window_length,
                                      metadata=metadata)
    checkpoints.save_weights(model, serving_dir)
    artifact_dir = os.path.dirname(serving_dir.rstrip("/"))
    for name in ("training_log.tsv", "training_curve.png", ensemble_lib.UNCERTAINTY_FILE):
        source = os.path.join(trainer.work_dir, name)
        if tf.io.gfile.exists(source):
            tf.io.gfile.copy(source, os.path.join(artifact_dir, name), overwrite=True)


def scale_fresh_head(model: PayloadModel, first_inputs: tf.Tensor) -> None:
    """Scale a fresh payload head to its trunk's embedding of the first training batch
    ``[B, L, 4]``: on a loud (pretrained) trunk it would otherwise start saturated."""
    scales = model.scale_head_to_embedding(model.enformer.trunk(first_inputs, is_training=False))
    LOG.info("payload head scaled to the trunk's embedding (RMS %.3g, pooled %.3g)",
             scales["embedding_rms"], scales["pooled_rms"])


def train_payload_model(
    model_config: ModelConfig,
    training: TrainingConfig,
    train_files: Sequence[str],
    eval_files: Sequence[str],
    work_dir: str,
    serving_dir: str,
    warm_start: Optional[str] = None,
) -> List[EpochResult]:
    """Fine-tune trunk + payload head; export to ``serving_dir``. Resumes from ``work_dir``.

    Data parallel over several GPUs or Vertex replicas when there are any (:mod:`trainer.distribute`).
    """
    window = model_config.window_length
    for files in (train_files, eval_files):
        inputs.check_window_fits(files, window)
    strategy = distribute.strategy_for_environment()
    distribute.check_global_batch(strategy, training.batch)
    if strategy is not None and model_config.ensemble > 1:
        raise InputError(f"model.ensemble {model_config.ensemble} trains its heads on one device: use one GPU "
                         "and one replica (vertex.trainer accelerator_count 1, replica_count 1)")
    tf.random.set_seed(training.seed)
    with distribute.scope(strategy):
        model = build_payload_model(model_config, warm_start if training.warm_start else None,
                                    training.trunk_batch_norm)
    LOG.info("trunk batch norms on %s statistics while fine-tuning", model.trunk_batch_norm)
    train_data = inputs.payload_dataset(
        train_files, window, training.batch, training=True, seed=training.seed,
        reverse_complement=training.reverse_complement,
    )

    def eval_batches() -> Iterator:
        return iter(inputs.payload_dataset(eval_files, window, training.batch, training=False,
                                           num_eval_offsets=training.eval_offsets))

    trainer = Trainer(
        model, lambda labels, predictions: mse_loss(labels, tf.squeeze(predictions, -1)),
        fit_config(training), work_dir, strategy=strategy,
    )
    fresh_head = not (warm_start and training.warm_start)
    results = trainer.fit(lambda skip: iter(train_data.skip(skip)), eval_batches,
                          initialize=(lambda first_inputs, _labels: scale_fresh_head(model, first_inputs))
                          if fresh_head else None)
    metadata = {"mode": "finetune", "warm_start": warm_start or "", "baseline": model_config.baseline,
                "model_config": dataclasses.asdict(model_config),
                "training": dataclasses.asdict(training)}
    exported = None
    if model_config.ensemble > 1:
        exported, metadata["uncertainty"] = ensemble_lib.train_ensemble(
            model, model_config.ensemble, train_files, eval_files, window, fit_config(training), training.batch,
            training.seed, training.reverse_complement, training.eval_offsets, work_dir)
    _save_outputs(model, trainer, serving_dir, window, metadata, exported)
    return results


def examples_dir_of(file_pattern: str) -> str:
    """``<examples>/Split-train/*`` -> ``<examples>`` (where BigWigTrackGen's metadata lives)."""
    return os.path.dirname(os.path.dirname(file_pattern))


def read_dataset_info(file_pattern: str) -> Dict[str, Any]:
    path = os.path.join(examples_dir_of(file_pattern), records.DATASET_INFO)
    if not tf.io.gfile.exists(path):
        raise InputError(f"{path}: missing; track training needs the Examples written by BigWigTrackGen")
    with tf.io.gfile.GFile(path) as handle:
        return json.load(handle)


def train_track_model(
    model_config: ModelConfig,
    training: TrainingConfig,
    train_files: Sequence[str],
    eval_files: Sequence[str],
    work_dir: str,
    serving_dir: str,
    warm_start: Optional[str] = None,
) -> Tuple[List[EpochResult], Dict[str, EmbeddingCache]]:
    """Tracks mode: ``trunk: frozen`` trains a new track head on the frozen trunk through the
    embedding cache; ``trunk: train`` trains the trunk with a species head
    (:func:`train_trunk_model`). Exports to ``serving_dir``."""
    tf.random.set_seed(training.seed)
    info = read_dataset_info(train_files[0])
    n_tracks = int(info["n_tracks"])
    if int(info.get("width", BIN_SIZE)) != BIN_SIZE:
        raise InputError(f"{examples_dir_of(train_files[0])}: the track dataset has {info['width']} bp bins; the "
                         f"Enformer trunk predicts {BIN_SIZE} bp bins (rebuild it with --width {BIN_SIZE})")
    enformer = build_enformer(model_config)
    if training.trunk == "train":
        return train_trunk_model(enformer, info, model_config, training, train_files, eval_files, work_dir,
                                 serving_dir), {}
    track_model = (
        checkpoints.load_track_model(checkpoints.weights_dir(warm_start), enformer, n_tracks)
        if warm_start and training.warm_start else TrackModel(enformer, n_tracks)
    )
    trunk = batch_polymorphic(lambda one_hot: enformer.trunk(one_hot, is_training=False))
    strands = 2 if training.reverse_complement else 1
    caches = {
        "train": EmbeddingCache(os.path.join(work_dir, "embedding_cache", "train"), train_files, n_tracks, trunk, strands),
        "eval": EmbeddingCache(os.path.join(work_dir, "embedding_cache", "eval"), eval_files, n_tracks, trunk, 1),
    }
    trainer = Trainer(
        HeadOnly(track_model), trunk_training.track_loss(training.loss),
        fit_config(training), work_dir,
    )
    results = trainer.fit(
        lambda skip: itertools.islice(caches["train"].batches(training.batch, training.seed, training.reverse_complement), skip, None),
        lambda: caches["eval"].ordered_batches(training.batch),
    )
    _save_outputs(track_model, trainer, serving_dir, int(info["length"]), {
        "mode": "tracks", "tracks": info.get("tracks", []), "baseline": model_config.baseline,
        "model_config": dataclasses.asdict(model_config), "training": dataclasses.asdict(training),
    })
    return results, caches


def train_trunk_model(enformer: Enformer, info: Dict[str, Any], model_config: ModelConfig, training: TrainingConfig,
                      train_files: Sequence[str], eval_files: Sequence[str], work_dir: str,
                      serving_dir: str) -> List[EpochResult]:
    """Train ``enformer``'s trunk and its ``training.species`` head on the tracks; export the
    Enformer in the published checkpoint layout (weights) and as a SavedModel (``tracks`` output)."""
    n_tracks = int(info["n_tracks"])
    trunk_training.check_species_head(enformer, training.species, n_tracks, examples_dir_of(train_files[0]))
    model, trainer, results = trunk_training.fit_trunk(enformer, training, train_files, eval_files, n_tracks,
                                                       work_dir, fit_config(training))
    export_lib.export_saved_model(model, serving_dir, int(info["length"]),
                                  metadata=trunk_training.trunk_metadata(model_config, training, info.get("tracks", [])))
    _save_outputs(enformer, trainer, serving_dir, int(info["length"]), {}, exported=None, saved_model=False)
    return results


RESUME_SUBDIR = "resume"


def resumable_work_dir(model_run_dir: str, train_files: Sequence[str], eval_files: Sequence[str],
                       custom_config: Any, base_model: Optional[str]) -> str:
    """``<Trainer node dir>/resume/<fingerprint of the inputs>``: a work directory that outlives an
    interrupted Trainer execution.

    Every TFX execution gets a new ``model_run/<execution id>`` (and a new stateful working
    directory), so checkpoints written there are never found again. The next execution with the
    same examples, warm-start model and settings computes the same fingerprint and resumes.
    """
    node_dir = os.path.dirname(os.path.dirname(model_run_dir.rstrip("/")))
    key = json.dumps({"train": list(train_files), "eval": list(eval_files), "config": custom_config,
                      "base_model": base_model or ""}, sort_keys=True, default=str)
    return os.path.join(node_dir, RESUME_SUBDIR, hashlib.sha256(key.encode()).hexdigest()[:16])


def _move_tree(source: str, target: str) -> None:
    """Copy ``source`` into ``target`` (any tf.io.gfile filesystem), then delete ``source``."""
    for directory, _, files in tf.io.gfile.walk(source):
        destination = os.path.join(target, os.path.relpath(directory, source))
        tf.io.gfile.makedirs(destination)
        for name in files:
            tf.io.gfile.copy(os.path.join(directory, name), os.path.join(destination, name), overwrite=True)
    tf.io.gfile.rmtree(source)


def run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point (GenericExecutor).

    Trains in :func:`resumable_work_dir` (an interrupted execution resumes after its last
    completed epoch on the next run) and moves the logs into ``model_run_dir`` on success.
    """
    model_config, training = from_custom_config(fn_args.custom_config)
    train_files = [fn_args.train_files] if isinstance(fn_args.train_files, str) else list(fn_args.train_files)
    eval_files = [fn_args.eval_files] if isinstance(fn_args.eval_files, str) else list(fn_args.eval_files)
    if fn_args.train_steps and fn_args.train_steps != training.epochs * training.steps:
        LOG.info("train_args.num_steps=%s ignored: training runs epochs x steps = %d", fn_args.train_steps, training.epochs * training.steps)
    work_dir = resumable_work_dir(fn_args.model_run_dir, train_files, eval_files, fn_args.custom_config,
                                  fn_args.base_model)
    LOG.info("Trainer work directory (kept until training completes): %s", work_dir)
    train = train_payload_model if training.mode == "finetune" else train_track_model
    role = distribute.cluster_role()
    # Several Vertex replicas all run this; only the chief's checkpoints, logs and export count.
    with distribute.worker_directories(role, work_dir, fn_args.serving_model_dir) as (work_dir, serving_dir):
        train(model_config, training, train_files, eval_files, work_dir, serving_dir, warm_start=fn_args.base_model)
        if role.is_chief:
            _move_tree(work_dir, fn_args.model_run_dir)
