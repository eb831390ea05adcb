"""Benchmark PayloadExampleGen's plan + Beam write on synthetic payloads.

Reports, per payload count: payloads/s (plan + Beam pipeline + publish, DirectRunner in
process), bytes on disk per payload (gzipped TFRecords) and peak RSS. Each size runs in its
own subprocess so peak RSS of one size cannot leak into the next; the TensorFlow/Beam import
baseline is reported separately (``rss_after_imports_mb``) so growth with payload count is
visible. Payloads are random ACGT of 5-40 kb (the Sox2 LCR payloads are up to ~40 kb, so many
are centre-trimmed), constructs are the default 26,880 bp.

    .venv/bin/python -m benchmarks.bench_payload_example_gen
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

SIZES = (200, 5_000)
QUICK_SIZES = (50, 200)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _make_inputs(root: str, count: int, seed: int = 0) -> Dict[str, str]:
    import numpy as np

    from components import genome

    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b"ACGT", dtype=np.uint8)
    reference = os.path.join(root, "ref.fa")
    genome.write_fasta(reference, [("chr1", alphabet[rng.integers(0, 4, 200_000)].tobytes().decode())])
    payloads = os.path.join(root, "payloads.fa")
    with open(payloads, "w") as handle:
        for index in range(count):
            length = int(rng.integers(5_000, 40_000))
            handle.write(f">PL_{index}\n{alphabet[rng.integers(0, 4, length)].tobytes().decode()}\n")
    table = os.path.join(root, "activity.tsv")
    with open(table, "w") as handle:
        handle.write("MenDel.Name\tgroups\tfoldchange\tactivity\n")
        for index in range(count):
            for replicate in range(2):
                handle.write(f"PL~{index}\tg{index % 7}\t1.0\t{rng.normal():.4f}\n")
    bed = os.path.join(root, "sites.bed")
    with open(bed, "w") as handle:
        for index in range(count):
            handle.write(f"PL_{index}\t1000\t1500\tHS{index % 5}\n")
    return {"reference": reference, "payloads": payloads, "table": table, "bed": bed}


def _child(count: int, root: str) -> Dict[str, float]:
    """Run one size in this process; returns its measurements."""
    import apache_beam as beam
    import tensorflow  # noqa: F401  (import baseline measured before the work starts)

    from components.payload_example_gen import constructs, transform

    inputs = _make_inputs(root, count)
    baseline = _peak_rss_mb()
    start = time.perf_counter()
    plan = constructs.plan_dataset(
        [inputs["table"]], inputs["payloads"], inputs["reference"], "chr1:90001-130000",
        annotation_bed=inputs["bed"], seed=4200, folds={"train": 8, "eval": 2},
    )
    examples = os.path.join(root, "examples")
    counts = transform.write_dataset(plan, examples, beam.Pipeline)
    elapsed = time.perf_counter() - start
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(examples) for f in files)
    return {
        "payloads": count,
        "records": sum(counts.values()),
        "seconds": round(elapsed, 2),
        "payloads_per_s": round(count / elapsed, 1),
        "bytes_on_disk_per_payload": round(size / count),
        "payload_fasta_mb": round(os.path.getsize(inputs["payloads"]) / 2**20, 1),
        "rss_after_imports_mb": round(baseline, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def run(quick: bool = False) -> dict:
    """Measure each size in a fresh subprocess; returns ``{"sizes": [...], "goals": {...}}``."""
    results: List[dict] = []
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for count in (QUICK_SIZES if quick else SIZES):
        with tempfile.TemporaryDirectory() as root:
            process = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_payload_example_gen", "--child", str(count), root],
                cwd=repo, capture_output=True, text=True, check=False,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
            if process.returncode != 0:
                raise RuntimeError(f"benchmark child ({count} payloads) failed:\n{process.stderr[-4000:]}")
            results.append(json.loads(process.stdout.strip().splitlines()[-1]))
    growth = results[-1]["peak_rss_mb"] - results[0]["peak_rss_mb"]
    return {
        "benchmark": "payload_example_gen",
        "construct_length": 26_880,
        "runner": "DirectRunner (in process)",
        "sizes": results,
        "peak_rss_growth_mb": round(growth, 1),
        "goals": {
            "bytes_on_disk_per_payload_le_30kb": all(r["bytes_on_disk_per_payload"] <= 30_000 for r in results),
        },
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_child(int(sys.argv[2]), sys.argv[3])))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
