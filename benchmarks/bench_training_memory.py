"""Peak memory of one full-size fine-tuning step (JSON): the table behind the accelerator guidance.

One configuration = the published Enformer trunk + the payload head (flatten, 64/64/1) on
25,600 bp windows, Adam over trunk + head, one call of the Trainer's traced train step (trace +
first step, which also creates Adam's slots: the peak of training). Each configuration runs in its own subprocess; its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is the CPU proxy for accelerator memory.
Configurations: batch 1/2/4 x float32/bfloat16 x recompute off/on. The machine is shared, so
a configuration starts only when ``MemAvailable`` exceeds what it may need (batch 4: 12 GB);
otherwise it is reported as not measured, with the free memory at the time.

Usage: ``python -m benchmarks.bench_training_memory [--batches 1 2] [--one BATCH PRECISION RECOMPUTE]``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

LENGTH = 25_600
BATCHES = (1, 2, 4)
PRECISIONS = ("float32", "bfloat16")
# Free memory a configuration needs before it may start (the machine is shared).
MIN_FREE_GB = {1: 6.0, 2: 8.0, 4: 12.0}


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # kB -> GiB


def available_gb() -> float:
    """``MemAvailable`` of /proc/meminfo in GiB."""
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2 ** 20
    raise RuntimeError("/proc/meminfo has no MemAvailable")


def measure_one(batch: int, precision: str, recompute: bool) -> Dict[str, Any]:
    """Peak RSS and step times of one configuration (run in a fresh process)."""
    import numpy as np
    import tensorflow as tf

    from trainer.enformer import build_enformer
    from trainer.heads import PayloadModel
    from trainer.training import FitConfig, Trainer, mse_loss

    tf.random.set_seed(0)
    started = time.perf_counter()
    model = PayloadModel(build_enformer("full"), 64, 64, 1, pooling="flatten", input_length=LENGTH)
    rss_model = _rss_gb()
    rng = np.random.default_rng(0)
    inputs = tf.one_hot(rng.integers(0, 4, (batch, LENGTH)), 4)
    labels = tf.constant(rng.uniform(0.5, 2.0, batch), tf.float32)
    with tempfile.TemporaryDirectory() as work_dir:
        trainer = Trainer(model, lambda y, p: mse_loss(y, tf.squeeze(p, -1)),
                          FitConfig(1e-5, precision=precision, recompute=recompute), work_dir)
        step_start = time.perf_counter()
        loss = float(trainer.train_step(inputs, labels))
        step_seconds = time.perf_counter() - step_start
    return {
        "batch": batch, "precision": precision, "recompute": recompute,
        "peak_rss_gib": round(_rss_gb(), 2),
        "rss_after_model_build_gib": round(rss_model, 2),
        "step_s_including_trace": round(step_seconds, 1),
        "loss_finite": bool(np.isfinite(loss)),
        "total_s": round(time.perf_counter() - started, 1),
    }


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(quick: bool = False, batches: Optional[List[int]] = None) -> Dict[str, Any]:
    """Every configuration, one subprocess at a time; ``quick``: batch 1 only."""
    batches = batches or ([1] if quick else list(BATCHES))
    rows = []
    for batch in batches:
        for precision in PRECISIONS:
            for recompute in (False, True):
                free = available_gb()
                row: Dict[str, Any] = {"batch": batch, "precision": precision, "recompute": recompute,
                                       "available_gb_before": round(free, 1), "load_before": _load()}
                if free < MIN_FREE_GB[batch]:
                    row["peak_rss_gib"] = "not measured"
                    row["reason"] = f"{free:.1f} GB available, need {MIN_FREE_GB[batch]:.0f} GB"
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    continue
                code = ("import json; from benchmarks.bench_training_memory import measure_one; "
                        f"print('ROW ' + json.dumps(measure_one({batch}, {precision!r}, {recompute})))")
                completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
                lines = [line for line in completed.stdout.splitlines() if line.startswith("ROW ")]
                if completed.returncode != 0 or not lines:
                    row["peak_rss_gib"] = "not measured"
                    row["reason"] = f"failed (exit {completed.returncode}): {completed.stderr[-500:]}"
                else:
                    row.update(json.loads(lines[-1][4:]))
                row["load_after"] = _load()
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    return {"window_bp": LENGTH, "model": "full trunk + payload head (flatten 64/64/1), Adam",
            "memory_proxy": "CPU peak RSS (ru_maxrss) of the whole process, incl. TensorFlow (~0.5 GB)",
            "configurations": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", choices=BATCHES)
    parser.add_argument("--one", nargs=3, metavar=("BATCH", "PRECISION", "RECOMPUTE"))
    args = parser.parse_args()
    if args.one:
        batch, precision, recompute = args.one
        print(json.dumps(measure_one(int(batch), precision, recompute.lower() in ("1", "true", "on"))))
    else:
        print(json.dumps(run(batches=args.batches), indent=2))


if __name__ == "__main__":
    main()
