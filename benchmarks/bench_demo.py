"""The demo's quality bar: `make demo` end to end, wall time and held-out correlation.

``run(quick)`` does what ``make demo`` does in a temporary directory: ``demo-data`` with the
Makefile's seed, then ``pipeline/configs/demo.yaml`` (``small`` Enformer, ``--baseline random``)
through BeamDagRunner, and reads the Evaluator's held-out-payload summary back from ML Metadata.
Goals: ``seconds <= 900`` on 2 CPU cores and ``pearson_r >= 0.8``. ``--quick`` trains
for 2 x 5 steps only (a smoke run of the same path; its correlation means nothing).

Prints JSON.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Dict, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(REPO, "pipeline", "configs", "demo.yaml")
DEMO_SEED = 7  # the Makefile's DEMO_SEED
GOAL_SECONDS = 900.0
GOAL_PEARSON_R = 0.8


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(float(value), 4)


def run(quick: bool = False) -> Dict[str, object]:
    from pipeline.config import load_config
    from pipeline.demo_data import generate_demo_data
    from pipeline.pipeline import run_locally
    from pipeline.report import latest_summary, pushed_models

    with tempfile.TemporaryDirectory(prefix="bench_demo_") as tmp:
        started = time.perf_counter()
        data = os.path.join(tmp, "data")
        generate_demo_data(data, seed=DEMO_SEED)
        overrides = [
            f"pipeline_root={tmp}/pipeline",
            f"payloads.activity_table={data}/activity.tsv",
            f"payloads.payload_fasta={data}/payloads.fa",
            f"payloads.annotation_bed={data}/annotation.bed",
            f"payloads.reference_fasta={data}/reference.fa",
            f"push.destination={tmp}/serving",
        ]
        if quick:
            overrides += ["training.epochs=2", "training.steps=5"]
        config = load_config(DEMO_CONFIG, overrides)
        run_locally(config)
        seconds = time.perf_counter() - started
        summary = latest_summary(config) or {}
        result: Dict[str, object] = {
            "quick": quick,
            "preset": config.model.preset,
            "training_steps": config.training.epochs * config.training.steps,
            "seconds": round(seconds, 1),
            "held_out_payloads": summary.get("n"),
            **{key: _rounded(summary.get(key)) for key in ("pearson_r", "spearman_rho", "mse")},
            "blessed": summary.get("blessed"),
            "pushed": len(pushed_models(config)),
        }
    if not quick:
        result["goal_seconds"] = GOAL_SECONDS
        result["goal_pearson_r"] = GOAL_PEARSON_R
        result["goals_met"] = bool(seconds <= GOAL_SECONDS and (result["pearson_r"] or 0.0) >= GOAL_PEARSON_R)
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
