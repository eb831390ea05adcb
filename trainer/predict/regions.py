"""Predictions over BED regions with stride and strand ensembling (``enformer-tfx predict-regions``).

Convention (documented in the README):

* Each region is predicted at its own span: it is tiled with ``n = ceil((end - start) /
  length)`` windows of ``length`` bp (at least one), laid end to end and centred on the
  region (:func:`components.signal_output.tile_region`). ``fragments`` forces ``n`` for every
  region and keeps all bins (the original ``predict_array`` layout).
* Windows that reach past a chromosome end are padded with ``N`` (all-zero one-hot rows, as
  the reference Enformer pads), never shifted: a region near a chromosome end keeps the same
  window grid as anywhere else. A region that itself leaves its chromosome, or whose
  chromosome is not in the FASTA, is reported by name and its row stays NaN; only if no region
  succeeds is it an error.
* Each window is predicted on ``strides`` windows shifted by ``-(strides // 2) ...
  strides - strides // 2 - 1`` bp (``strides=10``: -5..+4; ``strides=1``: the window itself)
  and, with ``reverse_complement``, on the reverse complement of each (bins flipped back).
  Bin ``j`` of a window is the mean over those windows of their bin ``j`` (shifts are below
  one bin, so the bins stay aligned with the unshifted window, as in the original).
  The original ``predict_array`` averaged ``strides + 1`` windows of a single ``length`` window;
  here exactly ``strides`` windows are used per window.
* Output row ``r`` (``.npy``, ``[regions, width, T]``): the bins of region ``r``'s windows that
  overlap the region (``[tiles.bins, T]``, first bin at ``tiles.row_start``), NaN-padded to the
  widest row; for ``finetune`` one activity per window (``[n, 1]``, bin width = ``length``).

All windows of a region (windows x shifts x strands) go through the model in one call
(``batch`` caps the windows per call for long regions); sequences are fetched region by region
from the indexed FASTA and rows are written into a ``.npy`` memmap, so memory does not grow
with the number of regions.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from components import genome
from components.genome import BedRecord
from components.errors import InputError
from components.signal_output import RegionTiles, tile_region
from trainer.predict.predictor import ACTIVITY, Predictor, predict_codes



def stride_shifts(strides: int) -> np.ndarray:
    """``[strides]`` 1-bp shifts centred on 0: ``-(strides // 2) .. strides - strides // 2 - 1``."""
    if strides < 1:
        raise InputError(f"--strides must be >= 1, got {strides}")
    return np.arange(strides, dtype=np.int64) - strides // 2


def region_label(record: BedRecord) -> str:
    return record.name or str(record.region)


def fetch_padded(reference: genome.ReferenceGenome, chrom: str, start: int, end: int) -> np.ndarray:
    """``[end - start]`` uint8 codes of ``[start, end)``; positions outside the chromosome are ``N``."""
    size = reference.chrom_sizes[chrom]
    codes = np.full(end - start, genome.N_CODE, dtype=np.uint8)
    low, high = max(start, 0), min(end, size)
    if high > low:
        codes[low - start:high - start] = reference.fetch_codes(chrom, low, high)
    return codes


def region_windows(reference: genome.ReferenceGenome, chrom: str, window_start: int, length: int,
                   windows: int, shifts: np.ndarray) -> np.ndarray:
    """``[windows * len(shifts), length]`` uint8 codes, window-major, from ONE fetch (N past the chromosome ends)."""
    low = window_start + int(shifts.min())
    high = window_start + windows * length + int(shifts.max())
    codes = fetch_padded(reference, chrom, low, high)
    starts = (np.arange(windows)[:, None] * length + (shifts - shifts.min())[None, :]).ravel()
    return genome.window_views(codes, starts, length)


@dataclasses.dataclass
class RegionResult:
    """Outcome of :func:`predict_regions`."""

    n_regions: int
    failed: List[Tuple[str, str]]  # (region label, reason)
    failed_rows: List[int]
    tiles: List[RegionTiles]  # per region: windows and the bins of its row
    step: int  # bp per output bin
    shape: Tuple[int, ...]

    @property
    def n_ok(self) -> int:
        return self.n_regions - len(self.failed)

    @property
    def windows(self) -> int:
        """Windows predicted (regions that succeeded; before strides and strands)."""
        failed = set(self.failed_rows)
        return sum(t.windows for i, t in enumerate(self.tiles) if i not in failed)


def output_step(predictor: Predictor, output_name: str) -> int:
    """bp per output bin: ``length`` for ``activity`` (one value per window), else ``length / bins``."""
    return predictor.input_length if output_name == ACTIVITY else predictor.input_length // predictor.bins


def predict_regions(predictor: Predictor, reference: genome.ReferenceGenome, records: Sequence[BedRecord],
                    output: str, output_name: str, strides: int = 1, reverse_complement: bool = False,
                    fragments: Optional[int] = None, batch: int = 0,
                    progress: Optional[Callable[[int, int], None]] = None) -> RegionResult:
    """Predict every region into ``output`` (``.npy``, float32 ``[regions, width, T]``, NaN-padded).

    Args:
      predictor: with ``output_name`` among its outputs.
      output_name: ``activity`` (-> one value per window) or a binned head (-> the bins overlapping each region).
      fragments: windows per region for every region (default: each region's own ``ceil(len / length)``).
      batch: forward windows per model call (0 = all windows of a region at once).
    """
    if not records:
        raise InputError("the BED file has no regions")
    if fragments is not None and fragments < 1:
        raise InputError(f"--fragments must be >= 1, got {fragments}")
    length = predictor.input_length
    step = output_step(predictor, output_name)
    tiles = [tile_region(r.start, r.end, length, step, fragments) for r in records]
    shifts = stride_shifts(strides)
    if output_name == ACTIVITY:
        n_cols = 1
    else:
        cols = predictor.outputs[output_name]
        n_cols = len(cols) if cols is not None else predictor.n_tracks[output_name]
    shape: Tuple[int, ...] = (len(records), max(t.bins for t in tiles), n_cols)
    array = np.lib.format.open_memmap(output, mode="w+", dtype=np.float32, shape=shape)
    failed: List[Tuple[str, str]] = []
    failed_rows: List[int] = []
    for index, (record, tile) in enumerate(zip(records, tiles)):
        array[index] = np.nan
        try:
            reference.check_interval(record.chrom, record.start, record.end, "region")
        except InputError as error:
            failed.append((region_label(record), str(error)))
            failed_rows.append(index)
        else:
            codes = region_windows(reference, record.chrom, tile.window_start, length, tile.windows, shifts)
            per_region = len(codes)
            chunk = per_region if batch <= 0 else batch
            pieces = [predict_codes(predictor, codes[i:i + chunk], reverse_complement)[output_name]
                      for i in range(0, per_region, chunk)]
            values = np.concatenate(pieces, axis=0)  # [n * S, bins, T] or [n * S]
            values = values.reshape((tile.windows, len(shifts)) + values.shape[1:]).mean(axis=1)
            row = values.reshape(-1, n_cols)  # [n * bins, T] (windows concatenated) or [n, 1]
            array[index, :tile.bins] = row[tile.first_bin:tile.first_bin + tile.bins]
        if progress is not None:  # failed regions count as done too, so the bar reaches the end
            progress(index + 1, len(records))
    array.flush()
    del array
    if len(failed) == len(records):
        os.remove(output)  # nothing but NaN: leave no array behind
        raise InputError(f"none of the {len(records)} regions could be predicted; first failure: "
                         f"{failed[0][0]}: {failed[0][1]}")
    return RegionResult(len(records), failed, failed_rows, tiles, step, shape)
