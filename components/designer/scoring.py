"""Score candidates through a model: splice like ``make-dataset``, ensemble strands and shifts.

The model is any callable ``predict(one_hot [B, W, 4] float32) -> {name: array}`` returning
``activity [B]`` and, for an ensemble export, ``activity_members [B, K]`` (one prediction
per ensemble member). The CLI passes the project's compiled predictor; the Designer component
passes the pushed SavedModel's ``predict_one_hot`` signature (components never import the
trainer).

Per candidate:

* the construct is built exactly as ``make-dataset`` builds it
  (:func:`components.payload_example_gen.constructs.build_construct`, ``L`` bp);
* ``shifts`` windows of ``W`` bp are cut at evenly spaced starts in ``[0, L - W]`` (one
  shift = the centred window, as ``serving_default`` cuts it), and with ``reverse_complement``
  each window also goes through the model reverse-complemented;
* the prediction is the mean over those views; for an ensemble, each member's predictions are
  averaged over the views first, then ``mean`` and ``sd`` (population) are taken over members.

Windows go through the model in large batches (``batch_windows`` per call).
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from components import genome
from components.payload_example_gen.constructs import build_construct

LOG = logging.getLogger(__name__)

ACTIVITY = "activity"
MEMBERS = "activity_members"  # the ensemble export's per-member predictions [B, K]
PredictFn = Callable[[np.ndarray], Dict[str, np.ndarray]]


def shift_offsets(construct_length: int, window_length: int, shifts: int) -> np.ndarray:
    """``[shifts]`` window starts evenly spaced in ``[0, L - W]``; one shift = the centre."""
    if shifts < 1:
        raise ValueError("shifts must be >= 1")
    room = construct_length - window_length
    if room < 0:
        raise ValueError(f"window {window_length} bp is longer than the construct {construct_length} bp")
    if shifts == 1:
        return np.array([room // 2], dtype=np.int64)
    return np.unique(np.round(np.linspace(0, room, shifts)).astype(np.int64))


def construct_codes(sequences: Sequence[str], left_flank: str, right_flank: str, construct_length: int) -> np.ndarray:
    """``[N, L]`` uint8 codes of the spliced constructs."""
    return np.stack([genome.encode_sequence(build_construct(sequence, left_flank, right_flank, construct_length))
                     for sequence in sequences])


def score_sequences(sequences: Sequence[str], predict: PredictFn, left_flank: str, right_flank: str,
                    construct_length: int, window_length: int, shifts: int = 3, reverse_complement: bool = True,
                    batch_windows: int = 128) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """``(mean [N], sd [N] or None)`` predicted activity of payload ``sequences``.

    ``sd`` is None when the model returns no ensemble members.
    """
    offsets = shift_offsets(construct_length, window_length, shifts)
    views = offsets.size * (2 if reverse_complement else 1)
    per_call = max(1, batch_windows // views)
    means, sds = [], []
    started = time.time()
    next_report = 0.1
    for start in range(0, len(sequences), per_call):
        codes = construct_codes(sequences[start:start + per_call], left_flank, right_flank, construct_length)
        n = codes.shape[0]
        windows = genome.window_views(codes, offsets, window_length)  # [n, shifts, W]
        if reverse_complement:
            windows = np.concatenate([windows, genome.reverse_complement_codes(windows)], axis=1)
        outputs = predict(genome.one_hot(windows.reshape(n * views, window_length)))
        if MEMBERS in outputs:
            members = np.asarray(outputs[MEMBERS], np.float64).reshape(n, views, -1).mean(axis=1)  # [n, K]
            means.append(members.mean(axis=1))
            sds.append(members.std(axis=1))
        else:
            means.append(np.asarray(outputs[ACTIVITY], np.float64).reshape(n, views).mean(axis=1))
        done = (start + n) / len(sequences)
        if done >= next_report or done == 1.0:
            elapsed = time.time() - started
            LOG.info("scored %d/%d candidates (%d windows each) in %.1fs, %.1f candidates/s",
                     start + n, len(sequences), views, elapsed, (start + n) / max(elapsed, 1e-9))
            next_report = done + 0.1
    mean = np.concatenate(means) if means else np.zeros(0)
    return mean, (np.concatenate(sds) if sds else None)
