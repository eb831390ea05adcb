"""Choosing the next assay batch from scored candidates (NumPy only).

Objectives (``--objective``): ``max`` (highest activity), ``min`` (lowest), ``target=X``
(closest to X). Every rule ranks by a *utility* where larger is better:
``max -> mean``, ``min -> -mean``, ``target=X -> -|mean - X|``.

Acquisition rules (``--acquisition``):

* ``greedy``: the ``batch`` candidates of highest utility.
* ``ucb``: optimism under uncertainty, ``mean + beta * sd`` in the objective's direction
  (``max``: ``mean + beta sd``; ``min``: ``-(mean - beta sd)``; ``target``:
  ``-max(|mean - X| - beta sd, 0)``). Needs an ensemble's ``sd``.
* ``diverse``: greedy, one pick at a time, each candidate's utility lowered by
  ``diversity * spread * shared / n_edits`` where ``shared`` counts, over the candidate's
  edits, how many already chosen candidates carry the same edit of the same parent, and
  ``spread`` is the standard deviation of the utilities (so the penalty is scale free). A batch
  of 40 then covers many edits instead of 40 variations on the best one.

Ties break by candidate order (stable sort), so a seed fixes the batch.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

from components.errors import InputError

ACQUISITIONS = ("greedy", "ucb", "diverse")


@dataclasses.dataclass(frozen=True)
class Objective:
    kind: str  # max | min | target
    target: Optional[float] = None

    def __str__(self) -> str:
        return f"target={self.target:g}" if self.kind == "target" else self.kind


def parse_objective(text: str) -> Objective:
    """``max`` | ``min`` | ``target=X`` (X a finite number) -> :class:`Objective`."""
    value = text.strip()
    if value in ("max", "min"):
        return Objective(value)
    if value.startswith("target="):
        try:
            target = float(value.split("=", 1)[1])
        except ValueError:
            target = float("nan")
        if np.isfinite(target):
            return Objective("target", target)
    raise InputError(f"--objective {text!r}: expected 'max', 'min' or 'target=X' with X a number (e.g. target=1.5)")


def utility(mean: np.ndarray, objective: Objective) -> np.ndarray:
    """``[N]`` predicted means -> ``[N]`` utilities (larger is better)."""
    mean = np.asarray(mean, dtype=np.float64)
    if objective.kind == "max":
        return mean
    if objective.kind == "min":
        return -mean
    return -np.abs(mean - objective.target)


def optimistic_utility(mean: np.ndarray, sd: np.ndarray, objective: Objective, beta: float) -> np.ndarray:
    """UCB utility: the best the objective could be within ``beta`` standard deviations."""
    mean = np.asarray(mean, dtype=np.float64)
    bonus = beta * np.asarray(sd, dtype=np.float64)
    if objective.kind == "max":
        return mean + bonus
    if objective.kind == "min":
        return -(mean - bonus)
    return -np.maximum(np.abs(mean - objective.target) - bonus, 0.0)


def select_batch(mean: np.ndarray, sd: Optional[np.ndarray], edit_keys: Sequence[Sequence[str]], objective: Objective,
                 method: str, batch: int, beta: float = 1.0, diversity: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """Pick ``batch`` candidates.

    Args:
      mean: ``[N]`` predicted activity; sd: ``[N]`` ensemble standard deviation or None.
      edit_keys: per candidate, its edits qualified by parent (for ``diverse``).
    Returns:
      ``(indices [k], scores [k])`` in rank order, ``k = min(batch, N)``; ``scores`` is the
      acquisition value each pick was chosen with.
    Raises:
      InputError: unknown method, ``ucb`` without ``sd``, a batch below 1.
    """
    if method not in ACQUISITIONS:
        raise InputError(f"--acquisition {method!r}: expected one of {', '.join(ACQUISITIONS)}")
    if batch < 1:
        raise InputError(f"--batch-size must be >= 1, got {batch}")
    mean = np.asarray(mean, dtype=np.float64)
    if len(edit_keys) != mean.size:
        raise ValueError("one edit-key list per candidate is needed")
    k = min(batch, mean.size)
    if method == "ucb":
        if sd is None:
            raise InputError("--acquisition ucb needs an uncertainty (sd): the model is not an ensemble; train with "
                             "model.ensemble: K (K >= 2) or use --acquisition greedy|diverse")
        if beta < 0:
            raise InputError(f"--beta must be >= 0, got {beta}")
        scores = optimistic_utility(mean, sd, objective, beta)
        order = np.argsort(-scores, kind="stable")[:k]
        return order, scores[order]
    base = utility(mean, objective)
    if method == "greedy":
        order = np.argsort(-base, kind="stable")[:k]
        return order, base[order]
    if diversity < 0:
        raise InputError(f"--diversity must be >= 0, got {diversity}")
    return _diverse(base, edit_keys, k, diversity)


def _diverse(base: np.ndarray, edit_keys: Sequence[Sequence[str]], k: int, diversity: float) -> Tuple[np.ndarray, np.ndarray]:
    spread = float(np.std(base)) or 1.0
    weight = diversity * spread / np.array([max(1, len(keys)) for keys in edit_keys], dtype=np.float64)
    # Index candidates by edit so each pick only updates the candidates sharing its edits.
    by_key = collections.defaultdict(list)
    for index, keys in enumerate(edit_keys):
        for key in keys:
            by_key[key].append(index)
    shared = np.zeros(base.size)
    chosen = np.zeros(base.size, dtype=bool)
    picks: List[int] = []
    scores: List[float] = []
    for _ in range(k):
        score = np.where(chosen, -np.inf, base - weight * shared)
        best = int(np.argmax(score))  # first maximum: stable tie-breaking
        picks.append(best)
        scores.append(float(score[best]))
        chosen[best] = True
        for key in edit_keys[best]:
            shared[by_key[key]] += 1
    return np.array(picks, dtype=np.int64), np.array(scores)
