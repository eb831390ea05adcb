"""Training throughput and quality, float32 vs bfloat16 mixed precision, on the demo config (JSON).

``run(quick)`` generates the demo data (``enformer-tfx demo-data`` defaults), builds its dataset
the way the demo pipeline does (construct 5,376 bp, window 4,096 bp, folds train 8 / eval 2) and
uses the model and training settings of ``pipeline/configs/demo_random.yaml`` (the demo from a
random trunk, so the benchmark needs no pretrained trunk):

* ``steps_per_s``: both precisions' Trainers built side by side, their train steps alternated on
  the same batches after tracing (the machine is shared: adjacent pairs see the same load); the
  ratio is the median of the pairs' ratios.
* ``final_valid_pearson_r``: ``train_payload_model`` once per precision with the demo's settings
  and ``epochs`` epochs (the demo's own count unless reduced, stated in the output).

Usage: ``python -m benchmarks.bench_training_precision [--epochs N] [--pairs N]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from typing import Any, Dict, Optional

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipeline", "configs",
                           "demo_random.yaml")
PRECISIONS = ("float32", "bfloat16")


def _dataset(tmp: str) -> str:
    from pipeline.cli import main as cli
    from pipeline.config import load_config
    from pipeline.demo_data import generate_demo_data

    demo = load_config(DEMO_CONFIG)
    data = os.path.join(tmp, "data")
    manifest = generate_demo_data(data)
    folds = [f"{name}={weight}" for name, weight in demo.payloads.folds.items()]
    code = cli(["make-dataset", os.path.join(data, "activity.tsv"), os.path.join(data, "payloads.fa"),
                "--annotation", os.path.join(data, "annotation.bed"), "--reference", os.path.join(data, "reference.fa"),
                "--context", manifest["context"], "--length", str(demo.payloads.construct_length),
                "--window", str(demo.payloads.window_length), "--seed", str(demo.payloads.seed),
                "--folds", *folds, "--output", os.path.join(tmp, "payloads.tsv")])
    if code:
        raise RuntimeError(f"make-dataset exited {code}")
    return os.path.join(tmp, "payloads.examples")


def _interleaved_steps_per_s(model_config, training, dataset: str, pairs: int, tmp: str) -> Dict[str, Any]:
    import tensorflow as tf

    from trainer import inputs
    from trainer.run import build_payload_model, fit_config
    from trainer.training import Trainer, mse_loss

    trainers = {}
    for precision in PRECISIONS:
        tf.random.set_seed(training.seed)
        model = build_payload_model(model_config)
        config = fit_config(dataclasses.replace(training, precision=precision))
        trainers[precision] = Trainer(model, lambda y, p: mse_loss(y, tf.squeeze(p, -1)), config,
                                      os.path.join(tmp, f"steps-{precision}"))
    batches = iter(inputs.payload_dataset(os.path.join(dataset, "Split-train", "*"), model_config.window_length,
                                          training.batch, training=True, seed=training.seed))
    for trainer in trainers.values():
        trainer.train_step(*next(batches))  # trace outside the timing
    seconds = {precision: [] for precision in PRECISIONS}
    for _ in range(pairs):
        batch = next(batches)
        for precision, trainer in trainers.items():
            start = time.perf_counter()
            float(trainer.train_step(*batch))
            seconds[precision].append(time.perf_counter() - start)
    ratios = [f / b for f, b in zip(seconds["float32"], seconds["bfloat16"])]
    return {
        "float32_steps_per_s": round(1 / statistics.median(seconds["float32"]), 3),
        "bfloat16_steps_per_s": round(1 / statistics.median(seconds["bfloat16"]), 3),
        "bfloat16_speedup_median_of_pairs": round(statistics.median(ratios), 3),
        "pairs": pairs,
    }


def run(quick: bool = False, epochs: Optional[int] = None, pairs: Optional[int] = None) -> Dict[str, Any]:
    from pipeline.config import load_config
    from trainer.run import train_payload_model

    demo = load_config(DEMO_CONFIG)
    epochs = epochs or (2 if quick else demo.training.epochs)
    pairs = pairs or (5 if quick else 20)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-precision-") as tmp:
        dataset = _dataset(tmp)
        train_files = [os.path.join(dataset, "Split-train", "*")]
        eval_files = [os.path.join(dataset, "Split-eval", "*")]
        throughput = _interleaved_steps_per_s(demo.model, demo.training, dataset, pairs, tmp)
        quality = {}
        for precision in PRECISIONS:
            training = dataclasses.replace(demo.training, epochs=epochs, precision=precision)
            start = time.perf_counter()
            results = train_payload_model(demo.model, training, train_files, eval_files,
                                          os.path.join(tmp, f"train-{precision}"),
                                          os.path.join(tmp, f"model-{precision}", "Format-Serving"))
            quality[precision] = {"final_valid_pearson_r": round(results[-1].valid_pearson_r, 4),
                                  "final_valid_loss": round(results[-1].valid_loss, 5),
                                  "seconds": round(time.perf_counter() - start, 1)}
    return {
        "benchmark": "training_precision",
        "config": "pipeline/configs/demo_random.yaml (model + training), demo data at the default scale",
        "epochs": epochs, "demo_epochs": demo.training.epochs, "steps_per_epoch": demo.training.steps,
        "batch": demo.training.batch,
        "throughput": throughput,
        "quality": quality,
        "pearson_r_difference": round(quality["bfloat16"]["final_valid_pearson_r"]
                                      - quality["float32"]["final_valid_pearson_r"], 4),
        "goals": {"bfloat16_speedup": 1.7, "max_pearson_r_difference": 0.02},
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="epochs per quality run (default: the demo config's)")
    parser.add_argument("--pairs", type=int, help="interleaved step pairs for steps/s (default 20)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.epochs, args.pairs), indent=2))


if __name__ == "__main__":
    main()
