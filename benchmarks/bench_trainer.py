"""Learning-loop throughput: track-head epochs from the embedding cache, payload fine-tuning.

``run(quick)`` builds a synthetic genome with bigWig tracks and a payload assay (the demo-data
generator at a small scale), then measures in one process:

* ``track_head_epoch``: one epoch of track-head training (Adam on ``Dense(n_tracks)``) over the
  training windows, (a) from the on-disk embedding cache and (b) recomputing the ``small``
  trunk for every batch (the uncached path over the same key order). Goal: cached >= 50x.
  Building the cache (one trunk pass per window and strand) is reported separately.
* ``finetune_steps_per_s``: payload fine-tuning steps/s (trunk + head trainable, batch 4) for
  the ``tiny`` and ``small`` presets on 4,096 bp windows.

Prints JSON; the ratio is what to compare across machines.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Dict


def _head_epoch(model, cache, batch_size: int, cached: bool) -> float:
    """Seconds for one epoch of head training on ``cache`` keys (cached or recomputed trunk)."""
    import sonnet as snt
    import tensorflow as tf

    optimizer = snt.optimizers.Adam(1e-3)

    @tf.function(reduce_retracing=True)
    def step(embedding, target):
        with tf.GradientTape() as tape:
            prediction = model.head(embedding)
            loss = tf.reduce_mean(prediction - target * tf.math.log(prediction + 1e-6))
        optimizer.apply(tape.gradient(loss, model.head_variables), model.head_variables)
        return loss

    batches = cache.batches(batch_size, seed=0, reverse_complement=True, cached=cached)
    step(*next(batches))  # trace outside the timing
    n_steps = len(cache) // batch_size
    start = time.perf_counter()
    for _ in range(n_steps):
        step(*next(batches))
    return time.perf_counter() - start


def _finetune_steps_per_s(preset: str, dataset: str, steps: int) -> float:
    import tensorflow as tf

    from trainer import inputs
    from trainer.enformer import build_enformer
    from trainer.heads import PayloadModel
    from trainer.training import FitConfig, Trainer, mse_loss

    window = 4096
    model = PayloadModel(build_enformer(preset), 64, 64, 1, pooling="mean", input_length=window)
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as work_dir:
        trainer = Trainer(model, lambda y, p: mse_loss(y, tf.squeeze(p, -1)), FitConfig(1e-3, 1, steps), work_dir)
        batches = iter(inputs.payload_dataset(os.path.join(dataset, "Split-train", "*"), window, 4, training=True))
        trainer._train_step(*next(batches))  # trace outside the timing
        start = time.perf_counter()
        for _ in range(steps):
            trainer._train_step(*next(batches))
        return steps / (time.perf_counter() - start)


def run(quick: bool = False) -> Dict[str, object]:
    import tensorflow as tf

    from pipeline.cli import main as cli
    from pipeline.demo_data import generate_demo_data
    from trainer.embedding_cache import EmbeddingCache
    from trainer.enformer import build_enformer
    from trainer.heads import TrackModel

    windows = 24 if quick else 96
    steps = 5 if quick else 20
    tf.random.set_seed(0)
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as tmp:
        data = os.path.join(tmp, "data")
        manifest = generate_demo_data(data, seed=3, scale=0.25)
        prefix = os.path.join(tmp, "tracks")
        cli(["make-track-dataset", "--reference", os.path.join(data, "reference.fa"), "--length", "4096",
             "--size", str(windows), "--seed", "1", "--eval-chroms", "chrX", "--prefix", prefix,
             os.path.join(data, "mappable.bed"), os.path.join(data, "tracks.tsv")])
        cli(["make-dataset", os.path.join(data, "activity.tsv"), os.path.join(data, "payloads.fa"),
             "--reference", os.path.join(data, "reference.fa"), "--context", manifest["context"],
             "--length", "5376", "--window", "4096", "--output", os.path.join(tmp, "payloads.tsv")])

        enformer = build_enformer("small")
        model = TrackModel(enformer, n_tracks=4)
        trunk = tf.function(lambda x: enformer.trunk(x, is_training=False), reduce_retracing=True)
        start = time.perf_counter()
        cache = EmbeddingCache(os.path.join(tmp, "cache"), os.path.join(prefix, "Split-train", "*"), 4, trunk, strands=2)
        build_seconds = time.perf_counter() - start
        cached = _head_epoch(model, cache, 8, cached=True)
        recomputed = _head_epoch(model, cache, 8, cached=False)
        finetune = {preset: _finetune_steps_per_s(preset, os.path.join(tmp, "payloads.examples"), steps)
                    for preset in ("tiny", "small")}
    return {
        "benchmark": "trainer",
        "track_head_epoch": {
            "windows": len(cache),
            "window_bp": 4096,
            "trunk": "small",
            "cache_build_seconds": round(build_seconds, 3),
            "cached_epoch_seconds": round(cached, 4),
            "recomputed_epoch_seconds": round(recomputed, 3),
            "speedup": round(recomputed / cached, 1),
            "goal_speedup": 50,
        },
        "finetune_steps_per_s": {preset: round(rate, 2) for preset, rate in finetune.items()},
        "finetune_setup": "batch 4, 4,096 bp windows, trunk + mean-pooled payload head trainable",
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
