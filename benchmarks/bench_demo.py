"""The demo's quality bar: `make demo` end to end, wall time and held-out correlation.

``run(quick)`` does what ``make demo`` does in a temporary directory: ``demo-data`` with the
Makefile's seed, then stage 1, ``pipeline/configs/demo_pretrain.yaml`` (the ``small`` trunk
pretrained on demo tracks DEMO00-02), then stage 2, ``pipeline/configs/demo.yaml`` (payload
fine-tuning from stage 1's pushed trunk), both through BeamDagRunner, and reads each stage's
Evaluator summary back from ML Metadata. Goals: ``seconds <= 900`` on 2 CPU cores (both stages
and the data) and the payload model's ``pearson_r >= 0.8``. ``--quick`` pretrains on 200
windows for 5 steps and fine-tunes for 2 x 5 steps (a smoke run of the same path; its
correlations mean nothing).

Prints JSON.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "pipeline", "configs")
PRETRAIN_CONFIG = os.path.join(CONFIGS, "demo_pretrain.yaml")
DEMO_CONFIG = os.path.join(CONFIGS, "demo.yaml")
DEMO_SEED = 7  # the Makefile's DEMO_SEED
GOAL_SECONDS = 900.0
GOAL_PEARSON_R = 0.8


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(float(value), 4)


def _stage_overrides(tmp: str, data: str) -> Dict[str, List[str]]:
    """``--set`` overrides that move both stages' data, roots and push destinations into ``tmp``."""
    pretrained = f"{tmp}/pretrain-serving"
    return {
        "pretrain": [
            f"pipeline_root={tmp}/pretrain-pipeline",
            f"tracks.reference={data}/reference.fa",
            f"tracks.mappable_bed={data}/mappable.bed",
            f"tracks.tracks={data}/tracks_pretrain.tsv",
            f"push.destination={pretrained}",
        ],
        "payloads": [
            f"pipeline_root={tmp}/pipeline",
            f"payloads.activity_table={data}/activity.tsv",
            f"payloads.payload_fasta={data}/payloads.fa",
            f"payloads.annotation_bed={data}/annotation.bed",
            f"payloads.reference_fasta={data}/reference.fa",
            f"model.baseline={pretrained}",
            f"push.destination={tmp}/serving",
        ],
    }


def run(quick: bool = False) -> Dict[str, object]:
    from pipeline.config import load_config
    from pipeline.demo_data import generate_demo_data
    from pipeline.pipeline import run_locally
    from pipeline.report import latest_summary, pushed_models

    with tempfile.TemporaryDirectory(prefix="bench_demo_") as tmp:
        started = time.perf_counter()
        data = os.path.join(tmp, "data")
        generate_demo_data(data, seed=DEMO_SEED)
        overrides = _stage_overrides(tmp, data)
        if quick:
            overrides["pretrain"] += ["tracks.size=200", "training.epochs=1", "training.steps=5"]
            overrides["payloads"] += ["training.epochs=2", "training.steps=5"]
        data_seconds = time.perf_counter() - started
        pretrain = load_config(PRETRAIN_CONFIG, overrides["pretrain"])
        run_locally(pretrain)
        pretrain_seconds = time.perf_counter() - started - data_seconds
        config = load_config(DEMO_CONFIG, overrides["payloads"])
        run_locally(config)
        seconds = time.perf_counter() - started
        pretrain_summary = latest_summary(pretrain) or {}
        summary = latest_summary(config) or {}
        result: Dict[str, object] = {
            "quick": quick,
            "preset": config.model.preset,
            "pretraining_steps": pretrain.training.epochs * pretrain.training.steps,
            "training_steps": config.training.epochs * config.training.steps,
            "seconds": round(seconds, 1),
            "stage_seconds": {"demo_data": round(data_seconds, 1), "pretrain": round(pretrain_seconds, 1),
                              "payloads": round(seconds - data_seconds - pretrain_seconds, 1)},
            "pretrain_mean_track_pearson_r": _rounded(pretrain_summary.get("mean_track_pearson_r")),
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
