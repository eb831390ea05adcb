"""Correlation statistics used by evaluation and the prediction tools (NumPy; SciPy for ranks).

Pearson r is computed from :class:`CorrelationSums`, weighted running co-moments that can be
added to batch by batch and merged (the TFMA metrics accumulate them instead of storing every
label and prediction). Undefined correlations (fewer than two values, a constant vector, no
positive weight) are NaN, as in SciPy.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np


@dataclasses.dataclass
class CorrelationSums:
    """Weighted sufficient statistics of Pearson r for ``k`` column pairs (``x[:, j]``, ``y[:, j]``).

    Holds the count of positive-weight rows, the weight sum ``W``, the weighted means and the
    centred sums ``Σw(x-x̄)²``, ``Σw(y-ȳ)²``, ``Σw(x-x̄)(y-ȳ)`` per column (all ``[k]``): the same
    information as ``n, Σwx, Σwy, Σwx², Σwy², Σwxy`` but centred, so large offsets do not cancel.
    Batches combine with the parallel-variance update of Chan, Golub and LeVeque, so any split
    of the rows merges to the same result as one pass.
    """

    count: int = 0
    weight: float = 0.0
    mean_x: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    mean_y: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    m2_x: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    m2_y: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    c_xy: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray, weights: Optional[np.ndarray] = None) -> "CorrelationSums":
        """Statistics of ``[n, k]`` (or ``[n]``) ``x`` and ``y`` with ``[n]`` non-negative weights (default 1)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(f"correlation: shapes differ {x.shape} vs {y.shape}")
        columns = int(np.prod(x.shape[1:], dtype=np.int64))
        x, y = x.reshape(x.shape[0], columns), y.reshape(y.shape[0], columns)
        w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != x.shape[0]:
            raise ValueError(f"correlation: {w.shape[0]} weights for {x.shape[0]} rows")
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("correlation: weights must be finite and >= 0")
        total = float(w.sum())
        if total == 0.0:
            return cls()
        mean_x, mean_y = w @ x / total, w @ y / total
        dx, dy = x - mean_x, y - mean_y
        return cls(count=int(np.count_nonzero(w)), weight=total, mean_x=mean_x, mean_y=mean_y,
                   m2_x=w @ (dx * dx), m2_y=w @ (dy * dy), c_xy=w @ (dx * dy))

    def merge(self, other: "CorrelationSums") -> "CorrelationSums":
        """Statistics of the union of both row sets (neither input is modified)."""
        if other.weight == 0.0:
            return self
        if self.weight == 0.0:
            return other
        if self.mean_x.shape != other.mean_x.shape:
            raise ValueError(f"correlation: {self.mean_x.shape[0]} vs {other.mean_x.shape[0]} columns")
        weight = self.weight + other.weight
        delta_x, delta_y = other.mean_x - self.mean_x, other.mean_y - self.mean_y
        cross = self.weight * other.weight / weight
        return CorrelationSums(
            count=self.count + other.count, weight=weight,
            mean_x=self.mean_x + delta_x * other.weight / weight,
            mean_y=self.mean_y + delta_y * other.weight / weight,
            m2_x=self.m2_x + other.m2_x + delta_x * delta_x * cross,
            m2_y=self.m2_y + other.m2_y + delta_y * delta_y * cross,
            c_xy=self.c_xy + other.c_xy + delta_x * delta_y * cross,
        )

    def pearson(self) -> np.ndarray:
        """``[k]`` weighted Pearson r per column; NaN where undefined."""
        if self.count < 2:
            return np.full(self.mean_x.shape, np.nan)
        denominator = np.sqrt(self.m2_x * self.m2_y)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(denominator > 0, self.c_xy / np.where(denominator > 0, denominator, 1.0), np.nan)
        return np.clip(r, -1.0, 1.0)


def pearson_r(x: np.ndarray, y: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
    """Signed (weighted) Pearson correlation of two ``[n]`` vectors; NaN if undefined."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"pearson_r: shapes differ {x.shape} vs {y.shape}")
    if x.size == 0:
        return float("nan")
    r = CorrelationSums.of(x, y, weights).pearson()
    return float(r[0]) if r.size else float("nan")  # no positive weight: no columns


def spearman_rho(x: np.ndarray, y: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
    """Spearman rank correlation of two ``[n]`` vectors: (weighted) Pearson r of average ranks
    (ties share their mean rank, ``scipy.stats.rankdata``); NaN if undefined."""
    from scipy.stats import rankdata

    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"spearman_rho: shapes differ {x.shape} vs {y.shape}")
    return pearson_r(rankdata(x), rankdata(y), weights)


def mean_track_pearson(labels: np.ndarray, predictions: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
    """Mean over tracks of Pearson r over all bins; inputs ``[examples, bins, tracks]`` or
    ``[N, tracks]``; optional ``[examples]`` weights apply to every bin of their example."""
    return mean_of_tracks(track_sums(labels, predictions, weights).pearson())


def track_sums(labels: np.ndarray, predictions: np.ndarray, weights: Optional[np.ndarray] = None) -> CorrelationSums:
    """:class:`CorrelationSums` per track of ``[examples, bins, tracks]`` or ``[N, tracks]`` arrays."""
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    if labels.shape != predictions.shape:
        raise ValueError(f"mean_track_pearson: shapes differ {labels.shape} vs {predictions.shape}")
    rows_per_example = int(np.prod(labels.shape[1:-1], dtype=np.int64)) if labels.ndim > 2 else 1
    if weights is not None:
        weights = np.repeat(np.asarray(weights, dtype=np.float64).reshape(-1), rows_per_example)
    n_tracks = labels.shape[-1]
    return CorrelationSums.of(labels.reshape(-1, n_tracks), predictions.reshape(-1, n_tracks), weights)


def mean_of_tracks(per_track: np.ndarray) -> float:
    """Mean of the defined per-track correlations; NaN if none is defined."""
    per_track = np.asarray(per_track, dtype=np.float64)
    return float(np.nanmean(per_track)) if per_track.size and not np.all(np.isnan(per_track)) else float("nan")
