"""Per-payload evaluation report: table, predicted-vs-measured scatter PNG, summary numbers."""
from __future__ import annotations

import csv
import os
from typing import Dict, List

import numpy as np
import tensorflow as tf

from components import records
from components.correlation import pearson_r, spearman_rho


def predict_payloads(model_dir: str, files: List[str], batch_size: int = 16) -> Dict[str, np.ndarray]:
    """Run ``serving_default`` (the centred window) over payload records ``files``.

    Returns:
      ``name``, ``group`` (``[n]`` str), ``activity`` (measured), ``predicted`` (``[n]`` float), in file order.
    """
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    names, groups, measured, predicted = [], [], [], []
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(batch_size)
    spec = records.payload_feature_spec()
    for serialized in dataset:
        features = tf.io.parse_example(serialized, spec)
        outputs = serve(examples=serialized)
        predicted.append(np.asarray(outputs[records.ACTIVITY]).reshape(-1))
        measured.append(features[records.ACTIVITY].numpy())
        names.extend(n.decode() for n in features[records.NAME].numpy())
        groups.extend(g.decode() for g in features[records.GROUP].numpy())
    return {
        "name": np.array(names),
        "group": np.array(groups),
        "activity": np.concatenate(measured),
        "predicted": np.concatenate(predicted),
    }


def write_payload_report(table: Dict[str, np.ndarray], outdir: str, title: str = "") -> Dict[str, float]:
    """Write ``predictions.tsv`` and ``scatter.png`` into ``outdir``; return the summary.

    Args:
      table: ``name``, ``group`` (``[n]`` str), ``activity``, ``predicted`` (``[n]`` float).
    Returns:
      ``{"n", "pearson_r", "spearman_rho", "mse"}`` (NaN correlations for constant vectors).
    """
    measured = np.asarray(table["activity"], np.float64)
    predicted = np.asarray(table["predicted"], np.float64)
    summary = {
        "n": int(len(measured)),
        "pearson_r": pearson_r(measured, predicted),
        "spearman_rho": spearman_rho(measured, predicted),
        "mse": float(np.mean((measured - predicted) ** 2)) if len(measured) else float("nan"),
    }
    tf.io.gfile.makedirs(outdir)
    with tf.io.gfile.GFile(os.path.join(outdir, "predictions.tsv"), "w") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["name", "group", "activity", "predicted"])
        for row in sorted(zip(table["name"], table["group"], measured, predicted)):
            writer.writerow([row[0], row[1], f"{row[2]:.6g}", f"{row[3]:.6g}"])
    _scatter(table, summary, os.path.join(outdir, "scatter.png"), title)
    return summary


def _scatter(table: Dict[str, np.ndarray], summary: Dict[str, float], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    groups = sorted(set(table["group"]))
    for group in groups:
        mask = np.asarray(table["group"]) == group
        axis.scatter(table["activity"][mask], table["predicted"][mask], s=14, alpha=0.8, label=group or "(no group)")
    low = float(min(np.min(table["activity"]), np.min(table["predicted"])))
    high = float(max(np.max(table["activity"]), np.max(table["predicted"])))
    axis.plot([low, high], [low, high], "k--", linewidth=0.8)
    axis.set_xlabel("measured activity")
    axis.set_ylabel("predicted activity")
    axis.set_title(f"{title}\nn={summary['n']}  r={summary['pearson_r']:.3f}  rho={summary['spearman_rho']:.3f}", fontsize=9)
    if len(groups) > 1:
        axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    with tf.io.gfile.GFile(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)
