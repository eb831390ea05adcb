"""The cross-validation report: every payload predicted once by the fold model that did not train on it.

Shared by ``enformer-tfx cross-validate`` and the pipeline's ``CrossValidation`` step. Input is
one table per fold (the fold's payloads predicted by that fold's model, as
:func:`components.evaluation_report.report.predict_payloads` returns); output, into one
directory:

- ``predictions.tsv`` / ``scatter.png``: the evaluation report's format, ``group`` = the fold;
- ``folds.tsv``: per fold ``n``, Pearson r, Spearman rho;
- ``summary.json``: pooled out-of-fold ``pearson_r``, ``spearman_rho``, ``mse``, ``n``, the per-fold
  mean and sample sd of r and rho, and the per-fold rows (NaN as null).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import tensorflow as tf

from components.correlation import pearson_r, spearman_rho
from components.errors import InputError
from components.evaluation_report.report import write_payload_report
from components.json_values import json_safe

FoldTable = Tuple[str, Mapping[str, np.ndarray]]  # (fold name, {"name", "activity", "predicted": [n]})


def pooled_table(folds: Sequence[FoldTable]) -> Dict[str, np.ndarray]:
    """The fold tables stacked into one (``group`` = fold name).

    Raises:
      InputError: a payload appears in more than one fold or twice in one (then it would not be
        predicted exactly once, out of fold).
    """
    seen: Dict[str, str] = {}
    for fold, table in folds:
        for name in table["name"]:
            if name in seen:
                raise InputError(f"cross-validation: payload {name!r} is in {seen[name]} and {fold}; every payload "
                                 "must belong to exactly one fold")
            seen[str(name)] = fold
    return {
        "name": np.array([str(name) for _, table in folds for name in table["name"]]),
        "group": np.array([fold for fold, table in folds for _ in table["name"]]),
        "activity": np.concatenate([np.asarray(table["activity"], np.float64) for _, table in folds]),
        "predicted": np.concatenate([np.asarray(table["predicted"], np.float64) for _, table in folds]),
    }


def fold_rows(folds: Sequence[FoldTable]) -> List[Dict[str, Any]]:
    """Per fold: ``fold``, ``n``, ``pearson_r``, ``spearman_rho`` of its out-of-fold predictions."""
    return [{"fold": fold, "n": int(len(table["name"])),
             "pearson_r": pearson_r(table["predicted"], table["activity"]),
             "spearman_rho": spearman_rho(table["predicted"], table["activity"])} for fold, table in folds]


def _spread(values: Sequence[float]) -> Tuple[float, float]:
    """(mean, sample sd) ignoring NaN (a fold with constant predictions has no correlation)."""
    finite = np.asarray([v for v in values if not np.isnan(v)], np.float64)
    mean = float(finite.mean()) if finite.size else float("nan")
    sd = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
    return mean, sd


def write_cross_validation_report(folds: Sequence[FoldTable], report_dir: str,
                                  extra: Mapping[str, Any] = ()) -> Dict[str, Any]:
    """Write the report (see module docstring) into ``report_dir``; return the summary.

    Args:
      folds: ``[(fold name, table)]`` in fold order; each table holds that fold's payloads only.
      extra: more summary keys (e.g. the dataset, the models).
    """
    table = pooled_table(folds)
    per_fold = fold_rows(folds)
    title = f"{len(folds)}-fold cross-validation (out of fold)"
    summary: Dict[str, Any] = dict(write_payload_report(table, report_dir, title))
    r_mean, r_sd = _spread([row["pearson_r"] for row in per_fold])
    rho_mean, rho_sd = _spread([row["spearman_rho"] for row in per_fold])
    summary.update({"num_kfolds": len(folds), "fold_pearson_r_mean": r_mean, "fold_pearson_r_sd": r_sd,
                    "fold_spearman_rho_mean": rho_mean, "fold_spearman_rho_sd": rho_sd, **dict(extra),
                    "folds": per_fold})
    with tf.io.gfile.GFile(os.path.join(report_dir, "folds.tsv"), "w") as handle:
        handle.write("fold\tn\tpearson_r\tspearman_rho\n" + "".join(
            f"{row['fold']}\t{row['n']}\t{row['pearson_r']:.6g}\t{row['spearman_rho']:.6g}\n" for row in per_fold))
    with tf.io.gfile.GFile(os.path.join(report_dir, "summary.json"), "w") as handle:
        json.dump(json_safe(summary), handle, indent=2)
    return summary


def summary_line(summary: Mapping[str, Any]) -> str:
    """One line for logs and the console."""
    return (f"out of fold ({summary['n']} payloads, each predicted once by the model that did not train on it): "
            f"r = {summary['pearson_r']:.4f}, rho = {summary['spearman_rho']:.4f}; per fold r = "
            f"{summary['fold_pearson_r_mean']:.4f} +/- {summary['fold_pearson_r_sd']:.4f}")
