"""Predictions of payloads composed from segments (``enformer-tfx predict-payload``).

It joins the construct splicing (components) and the predictor (trainer), so it lives above both.

Convention (documented in the README):

* With ``S = strides`` the construct is ``W + S - 1`` bp (``W`` = model window): the payload is
  spliced into it exactly as ``make-dataset`` splices (centred; centre-trimmed when longer),
  and window ``k`` (``k = 0 .. S - 1``) starts at construct position ``k``, i.e. the 1-bp shifts
  ``-(S // 2) .. S - S // 2 - 1`` of the nominal window at ``S // 2``, as ``predict-regions``
  shifts its fragments. All ``S`` windows (and their reverse complements with ``--rc``) go
  through the model in one call and are averaged bin by bin.
* ``offset``: payload coordinate of the nominal window's first base; bin ``j`` covers payload
  bases ``[offset + 128 j, offset + 128 (j + 1))``.
* Report: per labelled segment, the maximum of each track over the bins overlapping it (0 when
  it lies outside the window, as the original reported sites outside the window).
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

from components import genome
from components.payload_example_gen.constructs import build_construct, layout
from components.segments import ComposedPayload
from trainer.enformer import DOWNSAMPLING
from trainer.predict.payloads import Site, site_peaks
from trainer.predict.predictor import ACTIVITY, Predictor, predict_codes
from trainer.predict.regions import stride_shifts

WHOLE_PAYLOAD = "*"  # report label of the row covering the whole payload


@dataclasses.dataclass
class ComposedPrediction:
    """``tracks`` ``[bins, T]`` (stride/strand mean), ``activity`` (NaN without a payload head)."""

    name: str
    tracks: np.ndarray
    activity: float
    offset: int
    length: int


def construct_windows(sequence: str, left_flank: str, right_flank: str, window: int, strides: int
                      ) -> Tuple[np.ndarray, int]:
    """``([S, W] uint8 codes, offset)`` for one payload (module docstring)."""
    shifts = stride_shifts(strides)
    construct_length = window + strides - 1
    construct = genome.encode_sequence(build_construct(sequence, left_flank, right_flank, construct_length))
    windows = genome.window_views(construct, shifts - shifts.min(), window)
    nominal = -int(shifts.min())
    return windows, nominal - layout(len(sequence), construct_length).shift


def predict_composed(predictor: Predictor, payload: ComposedPayload, left_flank: str, right_flank: str,
                     output: str, strides: int = 1, reverse_complement: bool = False) -> ComposedPrediction:
    """Predict one composed payload; ``output`` is the binned head to keep (``tracks``, ``mouse``...)."""
    windows, offset = construct_windows(payload.sequence, left_flank, right_flank, predictor.input_length, strides)
    outputs = predict_codes(predictor, windows, reverse_complement)
    activity = float(outputs[ACTIVITY].mean()) if ACTIVITY in outputs else float("nan")
    return ComposedPrediction(payload.name, outputs[output].mean(axis=0), activity, offset, len(payload.sequence))


def report_rows(payload: ComposedPayload, prediction: ComposedPrediction) -> List[List[float]]:
    """``[[label, activity, max track 1, ...]]``: the whole payload first, then each labelled segment."""
    sites = [Site(WHOLE_PAYLOAD, 0, prediction.length)] + [Site(*item) for item in payload.labelled()]
    peaks = np.stack([site_peaks(prediction.tracks[:, column], prediction.offset, sites, DOWNSAMPLING)
                      for column in range(prediction.tracks.shape[1])], axis=1)  # [sites, T]
    return [[site.name, prediction.activity] + peaks[i].tolist() for i, site in enumerate(sites)]


def track_names(head: str, columns: Optional[Sequence[int]], n_tracks: int) -> List[str]:
    """Report column names ``head:track``."""
    return [f"{head}:{track}" for track in (columns if columns is not None else range(n_tracks))]

