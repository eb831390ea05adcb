"""k-fold cross-validation on the demo data: out-of-fold r and its cost against one training run.

``run(quick)`` regenerates the demo data set (``enformer-tfx demo-data``, seed 7, unless
``$CV_BENCH_DATA`` names an existing copy), builds two datasets from it with the demo config's
construct and split seed (``make-dataset --kfolds 5`` and the default train/eval split), then
times, with the same model and training settings:

* ``single_training_s``: one ``enformer-tfx train`` on the train split (what the pipeline's
  Trainer does once);
* ``cross_validation_s``: ``enformer-tfx cross-validate --num-kfolds 5`` (five fold models, each
  on 4/5 of the payloads, plus the out-of-fold predictions), the same code the pipeline's
  ``evaluation.cross_validation`` step runs.

The demo config trains 15 epochs x 60 steps per model; five folds and one more model of that do
not fit a benchmark run, so training here is shortened to ``epochs`` x ``steps`` (in the JSON).
The out-of-fold r is therefore that of a briefly trained model; the cost ratio is what carries over.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any, Dict, List

DEMO_SEED = 7
NUM_KFOLDS = 5
# The demo config's data and model settings (pipeline/configs/demo_random.yaml).
DATASET = {"--length": "5376", "--window": "4096", "--seed": "4200"}
MODEL = ["--baseline", "random", "--preset", "small", "--pooling", "mean", "--length", "4096",
         "--learning-rate", "0.002", "--lr-schedule", "cosine", "--batch", "8", "--seed", "0"]
TRAINING = {"full": {"epochs": 2, "steps": 15}, "quick": {"epochs": 1, "steps": 3}}


def _cli(argv: List[str]) -> None:
    from pipeline.cli import main

    status = main(argv)
    if status != 0:
        raise RuntimeError(f"enformer-tfx {' '.join(argv)} exited {status}")


def _make_dataset(data: str, context: str, output: str, extra: List[str]) -> str:
    flags = [item for pair in DATASET.items() for item in pair]
    _cli(["make-dataset", os.path.join(data, "activity.tsv"), os.path.join(data, "payloads.fa"),
          "--annotation", os.path.join(data, "annotation.bed"), "--reference", os.path.join(data, "reference.fa"),
          "--context", context, *flags, *extra, "--output", output])
    return output


def run(quick: bool = False) -> Dict[str, Any]:
    from pipeline.demo_data import generate_demo_data

    training = TRAINING["quick" if quick else "full"]
    flags = MODEL + ["--epochs", str(training["epochs"]), "--steps", str(training["steps"])]
    with tempfile.TemporaryDirectory(prefix="bench-cv-") as tmp:
        data = os.environ.get("CV_BENCH_DATA") or os.path.join(tmp, "data")
        if not os.environ.get("CV_BENCH_DATA"):
            generate_demo_data(data, seed=DEMO_SEED)
        with open(os.path.join(data, "manifest.json")) as handle:
            context = json.load(handle)["context"]
        split = _make_dataset(data, context, os.path.join(tmp, "split", "dataset.tsv"), [])
        kfold = _make_dataset(data, context, os.path.join(tmp, "kfold", "dataset.tsv"),
                              ["--kfolds", str(NUM_KFOLDS)])

        start = time.perf_counter()
        _cli(["train", os.path.join(tmp, "single"), split, *flags])
        single_s = time.perf_counter() - start
        with open(os.path.join(tmp, "single", "model", "training_log.tsv")) as handle:
            rows = [line.rstrip("\n").split("\t") for line in handle]
        single_r = float(rows[-1][rows[0].index("valid_pearson_r")])

        start = time.perf_counter()
        _cli(["cross-validate", os.path.join(tmp, "cv"), kfold, "--num-kfolds", str(NUM_KFOLDS), *flags])
        cv_s = time.perf_counter() - start
        with open(os.path.join(tmp, "cv", "cv", "summary.json")) as handle:
            summary = json.load(handle)
    return {
        "data": f"demo-data --seed {DEMO_SEED}" + (f" ({data})" if os.environ.get("CV_BENCH_DATA") else ""),
        "num_kfolds": NUM_KFOLDS,
        "payloads": summary["n"],
        "model": "small preset, random init, mean pooling, 4,096 bp window, batch 8, lr 0.002 cosine",
        "epochs": training["epochs"],
        "steps_per_epoch": training["steps"],
        "cv_pearson_r": summary["pearson_r"],
        "cv_spearman_rho": summary["spearman_rho"],
        "fold_pearson_r_mean": summary["fold_pearson_r_mean"],
        "fold_pearson_r_sd": summary["fold_pearson_r_sd"],
        "fold_pearson_r": [fold["pearson_r"] for fold in summary["folds"]],
        "single_training_eval_pearson_r": single_r,
        "single_training_s": round(single_s, 1),
        "cross_validation_s": round(cv_s, 1),
        "cost_relative_to_one_training": round(cv_s / single_s, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
