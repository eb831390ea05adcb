"""Predicted vs measured binned signal over chosen regions (``enformer-tfx correlate``).

Geometry (as ``predict-regions`` writes its arrays): row ``r`` of a ``[regions, bins, columns]``
array covers the ``bins * step`` bp window centred on BED region ``r``
(:func:`components.signal_output.resize_interval`); bin ``j`` is ``[w + j * step, w + (j + 1) * step)``.
Measured (and predicted) bigWig tracks are binned over exactly those windows by
:class:`components.bigwig.TrackReader`, the code ``BigWigTrackGen`` bins its targets with
(NaN bases -> window median, ``sum_stat`` per bin, ``scale``, ``clip``, float16).

Statistics, per pair of compared columns ``t``:

* per region: Pearson r and Spearman rho of the ``bins`` predicted vs measured values of row ``r``;
* per track: the same over all bins of all compared regions pooled, plus the mean and median of
  the per-region values.

Rows whose predictions are all NaN (regions ``predict-regions`` could not predict) are skipped
and counted; undefined correlations (a constant row) are NaN and left out of means/medians.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Dict, List, Sequence

import numpy as np

from components.bigwig import TrackReader
from components.correlation import CorrelationSums
from components.errors import InputError
from components.genome import BedRecord
from components.json_values import json_safe
from components.signal_output import resize_interval

REGION_COLUMNS = ("region", "chrom", "start", "end", "name", "track", "predicted", "measured", "bins",
                  "pearson_r", "spearman_rho", "predicted_mean", "measured_mean")
TRACK_COLUMNS = ("track", "predicted", "measured", "regions", "bins", "pearson_r", "spearman_rho",
                 "mean_region_pearson_r", "median_region_pearson_r", "mean_region_spearman_rho")


def region_windows(records: Sequence[BedRecord], span: int) -> np.ndarray:
    """``[R]`` int64 window starts: each region resized about its centre to ``span`` bp."""
    return np.array([resize_interval(r.start, r.end, span)[0] for r in records], dtype=np.int64)


def read_binned(reader: TrackReader, records: Sequence[BedRecord], starts: np.ndarray, span: int,
                rows: Sequence[int], where: str) -> np.ndarray:
    """``[R, span // width, n_tracks]`` float32 binned bigWig signal of the windows of ``rows``
    (others stay NaN); a window outside a bigWig raises naming ``where:line``."""
    out = np.full((len(records), span // reader.width, reader.n_tracks), np.nan, dtype=np.float32)
    by_chrom: Dict[str, List[int]] = {}
    for row in rows:
        record = records[row]
        what = f"{where}:{record.line}: window of region {record.name or row}"
        if starts[row] < 0:
            raise InputError(f"{what} {record.chrom}:{int(starts[row]) + 1}-{int(starts[row]) + span}: starts before "
                             f"the beginning of {record.chrom}")
        reader.check_region(record.chrom, int(starts[row]), int(starts[row]) + span, what)
        by_chrom.setdefault(record.chrom, []).append(row)
    for chrom, chosen in by_chrom.items():
        out[chosen] = reader.read_windows(chrom, starts[chosen], span)
    return out


def _pearson_columns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[n, k]`` x, y -> ``[k]`` Pearson r per column (NaN where undefined)."""
    return CorrelationSums.of(x, y).pearson()


def _ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values, axis=0)  # ties share their mean rank, as spearman_rho does


@dataclasses.dataclass
class Correlations:
    """``per_region_*`` ``[R, T]`` (NaN for skipped rows), ``per_track_*`` ``[T]`` pooled over bins."""

    rows: np.ndarray  # [R'] indexes of the compared rows
    per_region_pearson: np.ndarray
    per_region_spearman: np.ndarray
    per_track_pearson: np.ndarray
    per_track_spearman: np.ndarray
    predicted_mean: np.ndarray  # [R, T]
    measured_mean: np.ndarray  # [R, T]


def correlate(predicted: np.ndarray, measured: np.ndarray) -> Correlations:
    """Compare ``[R, bins, T]`` arrays (see the module docstring); rows with all-NaN predictions skipped."""
    predicted = np.asarray(predicted, dtype=np.float64)
    measured = np.asarray(measured, dtype=np.float64)
    if predicted.shape != measured.shape or predicted.ndim != 3:
        raise ValueError(f"correlate: shapes differ or are not [regions, bins, tracks]: {predicted.shape} vs "
                         f"{measured.shape}")
    n_rows, bins, n_tracks = predicted.shape
    rows = np.flatnonzero(~np.isnan(predicted).all(axis=(1, 2)))
    region_r = np.full((n_rows, n_tracks), np.nan)
    region_rho = np.full((n_rows, n_tracks), np.nan)
    x, y = predicted[rows], measured[rows]  # [R', bins, T]
    if rows.size:
        # bins become the sample axis and (region, track) the columns: one vectorised pass each.
        columns_x = x.transpose(1, 0, 2).reshape(bins, -1)
        columns_y = y.transpose(1, 0, 2).reshape(bins, -1)
        region_r[rows] = _pearson_columns(columns_x, columns_y).reshape(rows.size, n_tracks)
        region_rho[rows] = _pearson_columns(_ranks(columns_x), _ranks(columns_y)).reshape(rows.size, n_tracks)
    pooled_x, pooled_y = x.reshape(-1, n_tracks), y.reshape(-1, n_tracks)
    track_r = _pearson_columns(pooled_x, pooled_y) if rows.size else np.full(n_tracks, np.nan)
    track_rho = (_pearson_columns(_ranks(pooled_x), _ranks(pooled_y)) if rows.size
                 else np.full(n_tracks, np.nan))
    predicted_mean = np.full((n_rows, n_tracks), np.nan)
    measured_mean = np.full((n_rows, n_tracks), np.nan)
    predicted_mean[rows], measured_mean[rows] = x.mean(axis=1), y.mean(axis=1)
    return Correlations(rows, region_r, region_rho, track_r, track_rho, predicted_mean, measured_mean)


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.6g}"


def _nan_stat(values: np.ndarray, stat) -> float:
    finite = values[np.isfinite(values)]
    return float(stat(finite)) if finite.size else float("nan")


def region_lines(records: Sequence[BedRecord], starts: np.ndarray, span: int, result: Correlations,
                 predicted_names: Sequence[str], measured_names: Sequence[str], bins: int) -> List[str]:
    """Per-region TSV (:data:`REGION_COLUMNS`); ``start``/``end`` = the compared window."""
    lines = ["\t".join(REGION_COLUMNS) + "\n"]
    for row in result.rows:
        record = records[row]
        for t, (predicted, measured) in enumerate(zip(predicted_names, measured_names)):
            lines.append("\t".join([
                str(row), record.chrom, str(int(starts[row])), str(int(starts[row]) + span), record.name or ".",
                str(t), predicted, measured, str(bins), _fmt(result.per_region_pearson[row, t]),
                _fmt(result.per_region_spearman[row, t]), _fmt(result.predicted_mean[row, t]),
                _fmt(result.measured_mean[row, t])]) + "\n")
    return lines


def track_rows(result: Correlations, predicted_names: Sequence[str], measured_names: Sequence[str],
               bins: int) -> List[Dict[str, object]]:
    """Per-track summary rows (:data:`TRACK_COLUMNS`)."""
    rows = []
    for t, (predicted, measured) in enumerate(zip(predicted_names, measured_names)):
        region_r = result.per_region_pearson[result.rows, t]
        region_rho = result.per_region_spearman[result.rows, t]
        rows.append({
            "track": t, "predicted": predicted, "measured": measured, "regions": int(result.rows.size),
            "bins": int(result.rows.size * bins), "pearson_r": float(result.per_track_pearson[t]),
            "spearman_rho": float(result.per_track_spearman[t]),
            "mean_region_pearson_r": _nan_stat(region_r, np.mean),
            "median_region_pearson_r": _nan_stat(region_r, np.median),
            "mean_region_spearman_rho": _nan_stat(region_rho, np.mean),
        })
    return rows


def track_lines(rows: Sequence[Dict[str, object]]) -> List[str]:
    lines = ["\t".join(TRACK_COLUMNS) + "\n"]
    for row in rows:
        lines.append("\t".join(_fmt(v) if isinstance(v, float) else str(v) for v in
                               (row[c] for c in TRACK_COLUMNS)) + "\n")
    return lines


def write_summary(path: str, rows: Sequence[Dict[str, object]], skipped: int, **info: object) -> None:
    """JSON: inputs, skipped rows, per-track rows and their means (NaN written as null)."""
    summary = dict(info)
    summary.update({
        "skipped_regions": skipped,
        "mean_pearson_r": _nan_stat(np.array([r["pearson_r"] for r in rows], dtype=float), np.mean),
        "mean_spearman_rho": _nan_stat(np.array([r["spearman_rho"] for r in rows], dtype=float), np.mean),
        "mean_region_pearson_r": _nan_stat(np.array([r["mean_region_pearson_r"] for r in rows], dtype=float),
                                           np.mean),
        "tracks": list(rows),
    })
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(json_safe(summary), handle, indent=2)


def plot(path: str, predicted: np.ndarray, measured: np.ndarray, result: Correlations,
         predicted_names: Sequence[str], measured_names: Sequence[str], max_tracks: int = 8,
         max_points: int = 20_000, seed: int = 0) -> None:
    """PNG: per compared track (first ``max_tracks``) a scatter of pooled bins (at most
    ``max_points``, drawn with a fixed seed) and a histogram of the per-region Pearson r."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tracks = min(len(predicted_names), max_tracks)
    figure, axes = plt.subplots(tracks, 2, figsize=(9, 3.2 * tracks), squeeze=False)
    rng = np.random.default_rng(seed)
    for t in range(tracks):
        x = predicted[result.rows, :, t].ravel()
        y = measured[result.rows, :, t].ravel()
        if x.size > max_points:
            keep = rng.choice(x.size, max_points, replace=False)
            x, y = x[keep], y[keep]
        ax = axes[t, 0]
        ax.scatter(x, y, s=3, alpha=0.3, lw=0)
        ax.set_xlabel(f"predicted {predicted_names[t]}", fontsize=8)
        ax.set_ylabel(f"measured {measured_names[t]}", fontsize=8)
        ax.set_title(f"all bins: r = {_fmt(result.per_track_pearson[t])}, "
                     f"rho = {_fmt(result.per_track_spearman[t])}", fontsize=9)
        ax = axes[t, 1]
        region_r = result.per_region_pearson[result.rows, t]
        region_r = region_r[np.isfinite(region_r)]
        ax.hist(region_r, bins=30, range=(-1, 1))
        ax.set_xlabel("per-region Pearson r", fontsize=8)
        ax.set_title(f"{region_r.size} regions, median {_fmt(_nan_stat(region_r, np.median))}", fontsize=9)
    if len(predicted_names) > tracks:
        figure.suptitle(f"first {tracks} of {len(predicted_names)} tracks (all are in the TSVs)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
