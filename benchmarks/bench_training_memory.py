"""Peak memory of one full-size fine-tuning step (JSON): the table behind the accelerator guidance.

One configuration = the published Enformer trunk + the payload head (flatten, 64/64/1) on
25,600 bp windows, Adam over trunk + head, one call of the Trainer's traced train step (trace +
first step, which also creates Adam's slots: the peak of training). Each configuration runs in its own subprocess; its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is the CPU proxy for accelerator memory.
Configurations: batch 1/2/4 x float32/bfloat16 x recompute off/on. The machine is shared, so
a configuration starts only when its expected peak (:func:`expected_peak_gib`, extrapolated from
the rows measured before it) is at most ``MAX_PEAK_GIB`` and leaves ``HEADROOM_GIB`` of
``MemAvailable`` free; otherwise it is reported as not measured, with the expectation.

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
# The machine is shared: never start a configuration expected to peak above this, or to leave
# less than HEADROOM_GIB of the available memory to the others.
MAX_PEAK_GIB = 12.0
HEADROOM_GIB = 4.0
# Resident before the step: the model's variables and the TensorFlow runtime (measured: 2.0).
BASE_GIB = 2.0


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


def expected_peak_gib(batch: int, precision: str, recompute: bool, measured: List[Dict[str, Any]]) -> Optional[float]:
    """Peak expected from measured rows (``batch``, ``precision``, ``recompute``, ``peak_rss_gib``).

    Two batches of the same configuration: the line through them. One: ``BASE_GIB`` plus its
    per-sample share, so the step's fixed costs (gradients, Adam's slots) are counted per sample
    too, an overestimate that grows with the batch. A configuration not measured at any batch
    takes the largest estimate of the other precision with the same ``recompute``. None: nothing
    to extrapolate from.
    """
    def estimate(rows: List[Dict[str, Any]]) -> Optional[float]:
        points = sorted({row["batch"]: float(row["peak_rss_gib"]) for row in rows}.items())
        if not points:
            return None
        if len(points) >= 2:
            (b0, p0), (b1, p1) = points[0], points[-1]
            return p0 + (p1 - p0) / (b1 - b0) * (batch - b0)
        b0, p0 = points[0]
        return BASE_GIB + (p0 - BASE_GIB) / b0 * batch

    done = [row for row in measured if isinstance(row.get("peak_rss_gib"), (int, float))]
    same = estimate([r for r in done if r["precision"] == precision and r["recompute"] == recompute])
    if same is not None:
        return same
    others = [estimate([r for r in done if r["precision"] == other and r["recompute"] == recompute])
              for other in PRECISIONS if other != precision]
    others = [value for value in others if value is not None]
    return max(others) if others else None


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
                expected = expected_peak_gib(batch, precision, recompute, rows)
                if expected is not None and (expected > MAX_PEAK_GIB or expected > free - HEADROOM_GIB):
                    row["peak_rss_gib"] = "not measured"
                    row["expected_peak_gib"] = round(expected, 1)
                    row["reason"] = (f"expected {expected:.1f} GiB (extrapolated from the rows above) exceeds "
                                     f"{MAX_PEAK_GIB:.0f} GiB or the free memory ({free:.1f} GiB) less "
                                     f"{HEADROOM_GIB:.0f} GiB")
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
