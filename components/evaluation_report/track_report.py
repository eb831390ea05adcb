"""Evaluation report of a track model: per-track Pearson r table, a few windows plotted, summary.

Written by the Evaluator into the ``ModelEvaluation`` artifact of a track run, and by
``enformer-tfx train-track-head`` next to the model it trains:

- ``track_pearson_r.tsv``: one row per track (``index identifier pearson_r measured_mean
  predicted_mean measured_sd predicted_sd``); r is over every bin of every held-out window, the
  per-track value whose mean TFMA reports as ``mean_track_pearson_r``;
- ``track_windows.png``: measured and predicted signal along the non-overlapping held-out windows
  with the most measured variation (one column per window, one row per track);
- ``summary.json``: ``kind: tracks``, window/bin/track counts, the mean and per-track r and the
  plotted windows.

The model is read through its exported ``serving_default`` signature (serialized track records
in, ``tracks [batch, bins, n_tracks]`` out), so this module needs no trainer code.
"""
from __future__ import annotations

import csv
import dataclasses
import heapq
import json
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from components import records
from components.correlation import CorrelationSums, mean_of_tracks

# The exported output of a track model (the export names a TrackModel's output ``tracks``).
TRACKS_OUTPUT = "tracks"
TABLE_NAME = "track_pearson_r.tsv"
PLOT_NAME = "track_windows.png"
SUMMARY_NAME = "summary.json"
TABLE_COLUMNS = ("index", "identifier", "pearson_r", "measured_mean", "predicted_mean", "measured_sd", "predicted_sd")
PLOTTED_WINDOWS = 3
# Candidates kept per plotted window, so that overlapping near-copies can be skipped.
CANDIDATES_PER_PLOTTED = 8


@dataclasses.dataclass
class WindowBatch:
    """Held-out windows with their measured and predicted signal.

    Attributes:
      chrom, start, end: ``[B]`` window coordinates (0-based, half-open).
      measured, predicted: ``[B, bins, n_tracks]`` float32.
    """

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray


def predict_track_windows(model_dir: str, files: Sequence[str], batch_size: int = 8) -> Iterator[WindowBatch]:
    """Run the export's ``serving_default`` over track records (gzipped TFRecords, file order)."""
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    spec = records.track_feature_spec()
    for serialized in tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(batch_size):
        features = tf.io.parse_example(serialized, spec)
        predicted = np.asarray(serve(examples=serialized)[TRACKS_OUTPUT], np.float32)
        measured = np.asarray(records.decode_target(features[records.TARGET], predicted.shape[-1]), np.float32)
        if measured.shape != predicted.shape:
            raise ValueError(f"model {model_dir} predicts {predicted.shape[1:]} per window, the records hold "
                             f"targets of shape {measured.shape[1:]}")
        yield WindowBatch(np.array([c.decode() for c in features[records.CHROM].numpy()]),
                          features[records.START].numpy(), features[records.END].numpy(), measured, predicted)


def write_track_report(batches: Iterable[WindowBatch], track_names: Sequence[str], outdir: str, title: str = "",
                       windows_plotted: int = PLOTTED_WINDOWS) -> Dict[str, Any]:
    """Stream ``batches`` once and write the table, the plot and ``summary.json`` into ``outdir``.

    Memory is the per-track co-moments plus the candidate windows for the plot
    (``windows_plotted`` x :data:`CANDIDATES_PER_PLOTTED`).
    Returns the summary (also written as ``summary.json``); correlations of constant vectors are NaN.
    """
    sums = CorrelationSums()
    # Min-heap of (variation, -index, window): the most variable windows, earlier first on ties.
    kept: List[Tuple[float, int, Dict[str, Any]]] = []
    n_windows, bins = 0, 0
    for batch in batches:
        n_tracks = batch.measured.shape[-1]
        bins = batch.measured.shape[1]
        sums = sums.merge(CorrelationSums.of(batch.measured.reshape(-1, n_tracks),
                                             batch.predicted.reshape(-1, n_tracks)))
        variation = batch.measured.std(axis=1).sum(axis=-1)  # [B]: most structured windows are plotted
        for row in range(len(batch.measured)):
            item = (float(variation[row]), -(n_windows + row), {
                "chrom": str(batch.chrom[row]), "start": int(batch.start[row]), "end": int(batch.end[row]),
                "measured": batch.measured[row], "predicted": batch.predicted[row]})
            if len(kept) < windows_plotted * CANDIDATES_PER_PLOTTED:
                heapq.heappush(kept, item)
            elif item[:2] > kept[0][:2]:
                heapq.heapreplace(kept, item)
        n_windows += len(batch.measured)
    if n_windows == 0:
        raise ValueError("track report: no held-out windows")
    per_track = sums.pearson()
    names = list(track_names) if len(track_names) == len(per_track) else [f"track{i}" for i in range(len(per_track))]
    sd_measured = np.sqrt(sums.m2_x / sums.weight)
    sd_predicted = np.sqrt(sums.m2_y / sums.weight)
    rows = [{"index": i, "identifier": names[i], "pearson_r": float(per_track[i]),
             "measured_mean": float(sums.mean_x[i]), "predicted_mean": float(sums.mean_y[i]),
             "measured_sd": float(sd_measured[i]), "predicted_sd": float(sd_predicted[i])}
            for i in range(len(per_track))]
    plotted = _non_overlapping([window for _, _, window in sorted(kept, reverse=True)], windows_plotted)
    summary: Dict[str, Any] = {
        "kind": "tracks", "n_windows": n_windows, "bins": bins, "n_tracks": len(rows),
        "mean_track_pearson_r": mean_of_tracks(per_track),
        "per_track_pearson_r": {row["identifier"]: row["pearson_r"] for row in rows},
        "plotted_windows": [f"{w['chrom']}:{w['start']}-{w['end']}" for w in plotted],
    }
    tf.io.gfile.makedirs(outdir)
    with tf.io.gfile.GFile(os.path.join(outdir, TABLE_NAME), "w") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(TABLE_COLUMNS)
        for row in rows:
            writer.writerow([row[c] if c in ("index", "identifier") else f"{row[c]:.6g}" for c in TABLE_COLUMNS])
    _plot_windows(plotted, rows, os.path.join(outdir, PLOT_NAME), title, summary["mean_track_pearson_r"])
    with tf.io.gfile.GFile(os.path.join(outdir, SUMMARY_NAME), "w") as handle:
        json.dump(summary, handle, indent=2)
    return summary


def _non_overlapping(windows: Sequence[Dict[str, Any]], count: int) -> List[Dict[str, Any]]:
    """The first ``count`` of ``windows`` (best first) that overlap none picked before them."""
    picked: List[Dict[str, Any]] = []
    for window in windows:
        if len(picked) == count:
            break
        if not any(w["chrom"] == window["chrom"] and w["start"] < window["end"] and window["start"] < w["end"]
                   for w in picked):
            picked.append(window)
    return picked


def read_track_table(outdir: str) -> List[Dict[str, str]]:
    """Rows of ``track_pearson_r.tsv`` in ``outdir`` (strings, as written)."""
    with tf.io.gfile.GFile(os.path.join(outdir, TABLE_NAME)) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def format_track_table(rows: Sequence[Dict[str, Any]]) -> str:
    """``identifier  pearson_r`` lines for the console."""
    return "\n".join(f"  {row['identifier']}\tr={float(row['pearson_r']):.3f}" for row in rows)


def _plot_windows(windows: Sequence[Dict[str, Any]], rows: Sequence[Dict[str, Any]], path: str, title: str,
                  mean_r: Optional[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_tracks = len(rows)
    figure, axes = plt.subplots(n_tracks, len(windows), figsize=(3.6 * len(windows), 1.6 * n_tracks + 0.8),
                                squeeze=False, sharex="col")
    for column, window in enumerate(windows):
        bins = window["measured"].shape[0]
        width = (window["end"] - window["start"]) / bins
        centres = window["start"] + (np.arange(bins) + 0.5) * width
        for track in range(n_tracks):
            axis = axes[track, column]
            axis.fill_between(centres, window["measured"][:, track], step="mid", color="0.75", label="measured")
            axis.plot(centres, window["predicted"][:, track], color="tab:red", linewidth=1.0, label="predicted")
            axis.tick_params(labelsize=6)
            if column == 0:
                axis.set_ylabel(f"{rows[track]['identifier']}\nr={rows[track]['pearson_r']:.2f}", fontsize=7)
            if track == 0:
                axis.set_title(f"{window['chrom']}:{window['start']:,}-{window['end']:,}", fontsize=8)
        axes[-1, column].set_xlabel("position (bp)", fontsize=7)
    axes[0, 0].legend(fontsize=6, loc="upper right")
    heading = f"{title}  mean track r={mean_r:.3f}" if title else f"mean track r={mean_r:.3f}"
    figure.suptitle(heading, fontsize=9)
    figure.tight_layout()
    with tf.io.gfile.GFile(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)
