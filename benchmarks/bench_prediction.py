"""Region prediction throughput: batched + compiled vs one window at a time.

``run(quick)`` predicts ``regions`` BED regions x ``strides`` 1-bp shifts (mouse head, one
track) with a randomly initialised ``small`` Enformer on a synthetic genome:

* ``batched_compiled`` -- :func:`trainer.predict.regions.predict_regions`: all shifts of a region
  in one call of the fixed-signature ``tf.function`` (the ``predict-regions`` path);
* ``compiled_one_window`` -- the same compiled function called once per window (batch 1), to
  separate the gain from batching and from compilation;
* ``eager_one_window`` -- the original scripts' loop: the Sonnet model called eagerly, one
  window at a time. Slow, so it runs on the first ``baseline_regions`` regions only; rates are
  per region either way.

Prints JSON: regions/s per mode and ``speedup`` = batched_compiled / eager_one_window.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Dict

import numpy as np


def run(quick: bool = False) -> Dict[str, object]:
    import tensorflow as tf

    from components import genome
    from trainer.enformer import build_enformer
    from trainer.predict.predictor import from_modules, predict_codes
    from trainer.predict.regions import predict_regions, region_windows, stride_shifts

    n_regions, strides, length = (20, 10, 1280) if quick else (200, 10, 1280)
    baseline_regions = 5 if quick else 40
    rng = np.random.default_rng(0)
    tf.random.set_seed(0)
    with tempfile.TemporaryDirectory(prefix="bench-prediction-") as tmp:
        fasta = os.path.join(tmp, "genome.fa")
        chrom_length = n_regions * 3_000 + 10_000
        genome.write_fasta(fasta, [("chr1", genome.decode_codes(rng.integers(0, 4, chrom_length)))])
        records = [genome.BedRecord("chr1", 5_000 + 3_000 * i, 5_000 + 3_000 * i + 1_000, f"r{i}", i + 1)
                   for i in range(n_regions)]
        enformer = build_enformer("small")  # random weights: throughput does not depend on them
        predictor = from_modules(enformer, request={"mouse": [10]}, length=length)
        shifts = stride_shifts(strides)
        with genome.ReferenceGenome(fasta) as reference:
            # Warm-up: trace the compiled function once (not timed, as in a long run).
            predict_regions(predictor, reference, records[:1], os.path.join(tmp, "warm.npy"), "mouse", strides=strides)

            start = time.perf_counter()
            predict_regions(predictor, reference, records, os.path.join(tmp, "batched.npy"), "mouse", strides=strides)
            batched = time.perf_counter() - start

            start = time.perf_counter()
            for record in records[:baseline_regions]:
                codes = region_windows(reference, record.chrom, record.start, length, 1, shifts)
                np.mean([predict_codes(predictor, codes[i:i + 1])["mouse"] for i in range(len(codes))], axis=0)
            compiled_single = time.perf_counter() - start

            enformer(tf.constant(genome.one_hot(codes[:1])), is_training=False)  # eager warm-up
            start = time.perf_counter()
            for record in records[:baseline_regions]:
                codes = region_windows(reference, record.chrom, record.start, length, 1, shifts)
                np.mean([enformer(tf.constant(genome.one_hot(codes[i:i + 1])), is_training=False)["mouse"][:, :, 10].numpy()
                         for i in range(len(codes))], axis=0)
            eager_single = time.perf_counter() - start
    rates = {
        "batched_compiled": n_regions / batched,
        "compiled_one_window": baseline_regions / compiled_single,
        "eager_one_window": baseline_regions / eager_single,
    }
    return {
        "benchmark": "prediction",
        "model": "small (random weights)",
        "regions": n_regions,
        "baseline_regions": baseline_regions,
        "strides": strides,
        "window_bp": length,
        "windows_per_region": strides,
        "regions_per_s": {k: round(v, 3) for k, v in rates.items()},
        "windows_per_s": {k: round(v * strides, 2) for k, v in rates.items()},
        "speedup_vs_eager_one_window": round(rates["batched_compiled"] / rates["eager_one_window"], 2),
        "speedup_vs_compiled_one_window": round(rates["batched_compiled"] / rates["compiled_one_window"], 2),
        "retraces": predictor.trace_count(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
