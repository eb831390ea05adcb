"""Predictions over BED regions with stride and strand ensembling (``enformer-tfx predict-regions``).

Convention (documented in the README):

* Every region is resized about its centre (:func:`components.signal_output.resize_interval`,
  the original ``pad_or_crop``) to the same span ``F * length`` bp, ``F = ceil(longest region /
  length)`` (at least 1; ``fragments`` overrides it), so the output is a regular array.
* The span is cut into ``F`` non-overlapping fragments ``[w + f * length, w + (f + 1) * length)``.
* Each fragment is predicted on ``strides`` windows shifted by ``-(strides // 2) ...
  strides - strides // 2 - 1`` bp (``strides=10``: -5..+4; ``strides=1``: the fragment itself)
  and, with ``reverse_complement``, on the reverse complement of each (bins flipped back).
  Bin ``j`` of a fragment is the mean over those windows of their bin ``j`` (shifts are below
  one bin, so the bins stay aligned with the unshifted fragment, as in the original).
  The original ``predict_array`` averaged ``strides + 1`` windows of a single ``length`` window;
  here exactly ``strides`` windows are used per fragment.
* Output rows: ``[F * length / 128, T]`` for species/track heads (fragments concatenated),
  ``[F, 1]`` for ``finetune`` (one activity per fragment; bin width = ``length``).
* A region whose windows leave the chromosome, or whose chromosome is not in the FASTA, is
  reported by name and its row stays NaN; only if no region succeeds is it an error.

All windows of a region (fragments x shifts x strands) go through the model in one call
(``batch`` caps the windows per call for long regions); sequences are fetched region by region
from the indexed FASTA and rows are written into a ``.npy`` memmap, so memory does not grow
with the number of regions.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from components import genome
from components.genome import BedRecord
from components.errors import InputError
from components.signal_output import resize_interval
from trainer.predict.predictor import ACTIVITY, Predictor, predict_codes



def stride_shifts(strides: int) -> np.ndarray:
    """``[strides]`` 1-bp shifts centred on 0: ``-(strides // 2) .. strides - strides // 2 - 1``."""
    if strides < 1:
        raise InputError(f"--strides must be >= 1, got {strides}")
    return np.arange(strides, dtype=np.int64) - strides // 2


def region_label(record: BedRecord) -> str:
    return record.name or str(record.region)


def fragments_for(records: Sequence[BedRecord], length: int, fragments: Optional[int] = None) -> int:
    """``F``: fragments per region (``ceil(longest / length)``, at least 1) unless given."""
    if fragments is not None:
        if fragments < 1:
            raise InputError(f"--fragments must be >= 1, got {fragments}")
        return fragments
    longest = max((r.end - r.start for r in records), default=length)
    return max(1, math.ceil(longest / length))


def region_windows(reference: genome.ReferenceGenome, chrom: str, window_start: int, length: int,
                   fragments: int, shifts: np.ndarray) -> np.ndarray:
    """``[fragments * len(shifts), length]`` uint8 codes, fragment-major, from ONE fetch.

    Raises :class:`InputError` when any window leaves the chromosome (or it is unknown).
    """
    low = window_start + int(shifts.min())
    high = window_start + fragments * length + int(shifts.max())
    codes = reference.fetch_codes(chrom, low, high)
    starts = (np.arange(fragments)[:, None] * length + (shifts - shifts.min())[None, :]).ravel()
    # A strided view would alias; windows are small relative to the model, so copy.
    return np.stack([codes[s:s + length] for s in starts])


@dataclasses.dataclass
class RegionResult:
    """Outcome of :func:`predict_regions`."""

    n_regions: int
    failed: List[Tuple[str, str]]  # (region label, reason)
    failed_rows: List[int]
    fragments: int
    span: int
    shape: Tuple[int, ...]

    @property
    def n_ok(self) -> int:
        return self.n_regions - len(self.failed)


def predict_regions(predictor: Predictor, reference: genome.ReferenceGenome, records: Sequence[BedRecord],
                    output: str, output_name: str, strides: int = 1, reverse_complement: bool = False,
                    fragments: Optional[int] = None, batch: int = 0,
                    progress: Optional[Callable[[int, int], None]] = None) -> RegionResult:
    """Predict every region into ``output`` (``.npy``, float32 ``[regions, rows, T]``).

    Args:
      predictor: with ``output_name`` among its outputs.
      output_name: ``activity`` (-> ``[regions, F, 1]``) or a binned head (``[regions, F * bins, T]``).
      batch: forward windows per model call (0 = all windows of a region at once).
    """
    if not records:
        raise InputError("the BED file has no regions")
    length = predictor.input_length
    n_frag = fragments_for(records, length, fragments)
    span = n_frag * length
    shifts = stride_shifts(strides)
    per_region = n_frag * len(shifts)
    step = per_region if batch <= 0 else batch
    if output_name == ACTIVITY:
        shape: Tuple[int, ...] = (len(records), n_frag, 1)
    else:
        cols = predictor.outputs[output_name]
        n_cols = len(cols) if cols is not None else predictor.n_tracks[output_name]
        shape = (len(records), n_frag * predictor.bins, n_cols)
    array = np.lib.format.open_memmap(output, mode="w+", dtype=np.float32, shape=shape)
    failed: List[Tuple[str, str]] = []
    failed_rows: List[int] = []
    for index, record in enumerate(records):
        window_start, _ = resize_interval(record.start, record.end, span)
        try:
            codes = region_windows(reference, record.chrom, window_start, length, n_frag, shifts)
        except InputError as error:
            failed.append((region_label(record), str(error)))
            failed_rows.append(index)
            array[index] = np.nan
            continue
        pieces = [predict_codes(predictor, codes[i:i + step], reverse_complement)[output_name]
                  for i in range(0, per_region, step)]
        values = np.concatenate(pieces, axis=0)  # [F * S, bins, T] or [F * S]
        values = values.reshape((n_frag, len(shifts)) + values.shape[1:]).mean(axis=1)
        array[index] = values.reshape(shape[1:])
        if progress is not None:
            progress(index + 1, len(records))
    array.flush()
    del array
    if len(failed) == len(records):
        os.remove(output)  # nothing but NaN: leave no array behind
        raise InputError(f"none of the {len(records)} regions could be predicted; first failure: "
                         f"{failed[0][0]}: {failed[0][1]}")
    return RegionResult(len(records), failed, failed_rows, n_frag, span, shape)

