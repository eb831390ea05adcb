"""Train the tiny payload model on one device and on two logical CPU devices (child process).

Logical devices must be configured before TensorFlow initialises, which the test process already
did, hence a child: ``python -m tests.distribution_run OUTDIR`` prints one JSON line with, per
run (``single``, ``mirrored``), the per-step losses on identical global batches, the epoch
results of ``Trainer.fit``, the exported signatures and the reloaded export's predictions.
"""
from __future__ import annotations

import json
import os
import sys

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

from components.errors import InputError  # noqa: E402
from trainer import distribute  # noqa: E402
from trainer.enformer import build_enformer  # noqa: E402
from trainer.export import export_saved_model  # noqa: E402
from trainer.heads import PayloadModel  # noqa: E402
from trainer.training import FitConfig, Trainer, mse_loss  # noqa: E402
from tests.graph_speed import switch_off_grappler  # noqa: E402

switch_off_grappler()  # as in the test process

WINDOW = 1280
GLOBAL_BATCH = 4


def batches(count: int, seed: int):
    rng = np.random.default_rng(seed)
    return [(tf.one_hot(rng.integers(0, 4, (GLOBAL_BATCH, WINDOW)), 4),
             tf.constant(rng.uniform(0.5, 2.0, GLOBAL_BATCH), tf.float32)) for _ in range(count)]


def signatures(export_dir: str):
    loaded = tf.saved_model.load(export_dir)
    described = {name: {"inputs": repr(fn.structured_input_signature), "outputs": repr(fn.structured_outputs)}
                 for name, fn in sorted(loaded.signatures.items())}
    return loaded, described


def train(outdir: str, name: str, strategy) -> dict:
    tf.random.set_seed(7)
    with distribute.scope(strategy):
        # Trunk frozen (inference mode, no dropout), head trained: no random op in the step,
        # so the two runs differ only by the replica split and the summation order.
        model = PayloadModel(build_enformer("tiny"), 16, 16, 1, pooling="flatten", input_length=WINDOW,
                             train_trunk=False)
    trainer = Trainer(model, lambda y, p: mse_loss(y, tf.squeeze(p, -1)),
                      FitConfig(1e-2, epochs=1, steps=2), os.path.join(outdir, name, "work"), strategy=strategy)
    step_losses = [float(trainer.train_step(x, y)) for x, y in batches(4, seed=1)]
    fit_batches = batches(2, seed=2)
    results = trainer.fit(lambda skip: iter(fit_batches[skip:]), lambda: iter(batches(1, seed=3)))
    replicas = [np.stack([v.numpy() for v in strategy.experimental_local_results(var)])
                for var in model.head_variables] if strategy else []
    export_dir = os.path.join(outdir, name, "export")
    export_saved_model(model, export_dir, WINDOW)
    loaded, described = signatures(export_dir)
    probe = batches(1, seed=4)[0][0]
    return {
        "replicas": distribute.num_replicas(strategy),
        "step_losses": step_losses,
        "epochs": [[r.train_loss, r.valid_loss] for r in results],
        "replica_copies_identical": all(np.array_equal(copies[0], copies[i]) for copies in replicas
                                        for i in range(1, len(copies))),
        "signatures": described,
        "predictions": loaded.signatures["predict_one_hot"](one_hot=probe)["activity"].numpy().tolist(),
        "checkpoint": bool(tf.train.latest_checkpoint(os.path.join(outdir, name, "work", "checkpoints"))
                           or os.listdir(os.path.join(outdir, name, "work"))),
    }


def main(outdir: str) -> None:
    devices = [device.name for device in tf.config.list_logical_devices("CPU")]
    mirrored = distribute.strategy_for_environment(devices=devices)
    report = {"single": train(outdir, "single", None), "mirrored": train(outdir, "mirrored", mirrored)}
    try:
        distribute.check_global_batch(mirrored, GLOBAL_BATCH + 1)
    except InputError as error:
        report["odd_batch_error"] = str(error)
    print("DISTRIBUTION-JSON " + json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
