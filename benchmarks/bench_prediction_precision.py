"""Full-size prediction throughput, bfloat16 vs float32: the ``predict-regions`` path (JSON).

The published-size Enformer (random weights: speed does not depend on them) predicts BED regions
of 25,600 bp, each as one window on 10 1-bp shifts (``--strides 10``, one model call of 10
windows), mouse head, all 1,643 tracks -- what ``predict-regions MODEL regions.bed --head mouse
--precision P`` runs. Two predictors share the same modules: ``float32`` and ``bfloat16``
(:func:`trainer.predict.predictor.from_modules`; the species head's outputs are float32 either
way). After one untimed warm-up region each (tracing), the regions are predicted interleaved
(pair ``i``: float32 first when ``i`` is even, else bfloat16 first), so both see the same load.

Reports regions/s of each precision, the median of the per-pair speed ratios, the outputs'
dtypes, the largest absolute difference between the two arrays (and relative to the largest
float32 value) and the Pearson r over all values, peak RSS and the load average.

Usage: ``python -m benchmarks.bench_prediction_precision [--regions N]``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from typing import Any, Dict

import numpy as np

LENGTH = 25_600
STRIDES = 10
HEAD = "mouse"
PRECISIONS = ("float32", "bfloat16")


def run(quick: bool = False, regions: int = 0) -> Dict[str, Any]:
    """``regions`` interleaved pairs (default 3; ``quick``: 1)."""
    import tensorflow as tf

    from components import genome
    from trainer.enformer import build_enformer
    from trainer.predict.predictor import from_modules
    from trainer.predict.regions import predict_regions

    n_regions = regions or (1 if quick else 3)
    rng = np.random.default_rng(0)
    tf.random.set_seed(0)
    load_before = os.getloadavg()
    enformer = build_enformer("full")
    predictors = {p: from_modules(enformer, request={HEAD: None}, length=LENGTH, precision=p) for p in PRECISIONS}
    seconds: Dict[str, list] = {p: [] for p in PRECISIONS}
    arrays: Dict[str, list] = {p: [] for p in PRECISIONS}
    with tempfile.TemporaryDirectory(prefix="bench-prediction-precision-") as tmp:
        fasta = os.path.join(tmp, "genome.fa")
        spacing = LENGTH + 5_000
        genome.write_fasta(fasta, [("chr1", genome.decode_codes(rng.integers(0, 4, (n_regions + 2) * spacing)))])
        records = [genome.BedRecord("chr1", 5_000 + spacing * i, 5_000 + spacing * i + LENGTH, f"r{i}", i)
                   for i in range(n_regions + 1)]
        with genome.ReferenceGenome(fasta) as reference:
            def predict(precision: str, index: int) -> float:
                path = os.path.join(tmp, f"{precision}{index}.npy")
                start = time.perf_counter()
                predict_regions(predictors[precision], reference, [records[index]], path, HEAD, strides=STRIDES)
                elapsed = time.perf_counter() - start
                if index > 0:
                    arrays[precision].append(np.load(path))
                return elapsed

            warmup = {p: round(predict(p, 0), 1) for p in PRECISIONS}  # traces each function once
            print(f"warm-up (incl. tracing): {warmup}", flush=True)
            for i in range(1, n_regions + 1):
                order = PRECISIONS if i % 2 else PRECISIONS[::-1]
                for precision in order:
                    seconds[precision].append(predict(precision, i))
                print(f"pair {i}/{n_regions}: " + ", ".join(f"{p} {seconds[p][-1]:.1f} s" for p in PRECISIONS),
                      flush=True)
    full, half = np.concatenate(arrays["float32"]), np.concatenate(arrays["bfloat16"])
    valid = np.isfinite(full)
    difference = np.abs(half[valid] - full[valid])
    ratios = [f / b for f, b in zip(seconds["float32"], seconds["bfloat16"])]
    return {
        "benchmark": "prediction_precision",
        "model": "full (published size, random weights)",
        "window_bp": LENGTH, "strides": STRIDES, "head": f"{HEAD} (all {full.shape[-1]} tracks)",
        "regions_per_precision": n_regions, "windows_per_region": STRIDES,
        "warmup_s_including_trace": warmup,
        "seconds_per_region": {p: [round(s, 2) for s in seconds[p]] for p in PRECISIONS},
        "regions_per_s": {p: round(len(seconds[p]) / sum(seconds[p]), 4) for p in PRECISIONS},
        "speedup_bf16_over_fp32_median_pair": round(float(np.median(ratios)), 3),
        "output_dtypes": {p: str(np.concatenate(arrays[p]).dtype) for p in PRECISIONS},
        "max_abs_difference": float(difference.max()),
        "max_abs_difference_relative_to_max_fp32": float(difference.max() / np.abs(full[valid]).max()),
        "pearson_r_bf16_vs_fp32": float(np.corrcoef(full[valid], half[valid])[0, 1]),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=0, help="interleaved pairs (default 3)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.regions), indent=2))


if __name__ == "__main__":
    main()
