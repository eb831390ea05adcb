"""Correlation statistics used by evaluation and the prediction tools (NumPy only).

Undefined correlations (fewer than two values, a constant vector) are NaN, as in SciPy.
"""
from __future__ import annotations

import numpy as np


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Signed Pearson correlation of two ``[n]`` vectors; NaN if undefined."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"pearson_r: shapes differ {x.shape} vs {y.shape}")
    if x.size < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    if denominator == 0.0:
        return float("nan")
    return float(np.clip((dx * dy).sum() / denominator, -1.0, 1.0))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``[n]`` values, ties receiving the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Boundaries of runs of equal values in sorted order.
    boundaries = np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1], [True]]))
    ranks = np.empty(values.size, dtype=np.float64)
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        ranks[order[start:end]] = (start + end + 1) / 2.0  # mean of ranks start+1 .. end
    return ranks


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two ``[n]`` vectors (average ranks for ties); NaN if undefined."""
    return pearson_r(average_ranks(x), average_ranks(y))


def mean_track_pearson(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Mean over tracks of Pearson r over bins; inputs ``[examples, bins, tracks]`` or ``[N, tracks]``."""
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    n_tracks = labels.shape[-1]
    per_track = [pearson_r(labels[..., t], predictions[..., t]) for t in range(n_tracks)]
    return float(np.nanmean(per_track)) if not np.all(np.isnan(per_track)) else float("nan")
