"""Window sampling and split assignment for BigWigTrackGen (plain functions, no Beam/TFX).

Candidate windows are every ``[s, s + length)`` with ``s = interval.start + k * step`` lying
wholly inside one (merged) mappable interval. ``size * batches`` of them are drawn uniformly
**without replacement** with ``numpy.random.default_rng(seed)``; the draw order is the record
order. Draw ``i`` belongs to batch ``i // size``; each batch becomes shard ``i // size`` of
every split it has windows in.

Splits never share a base:

* ``eval_chroms``: windows on those chromosomes are ``eval``, the rest ``train``.
* ``eval_fraction``: the genome is cut into blocks of ``split_block`` bp (``>= length``,
  default ``10 * length``); each block is ``eval`` with probability ``eval_fraction``, decided by
  a seeded hash of ``(seed, chrom, block)``. Mappable intervals are cut where the split changes,
  before sampling, so a window lies inside a single split's territory and overlapping windows
  can never straddle splits. Windows that would cross such a cut are not candidates (about
  ``length / split_block`` of the positions next to a change).
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from components.genome import BedRecord, Region, format_list
from components.errors import InputError

TRAIN, EVAL = "train", "eval"
SPLITS: Tuple[str, ...] = (TRAIN, EVAL)


@dataclasses.dataclass(frozen=True, order=True)
class Window:
    """A sampled window, 0-based half-open; ``index`` is its record position in the shard file."""

    chrom: str
    start: int
    end: int
    split: str
    shard: int
    index: int


def merge_intervals(records: Iterable[BedRecord]) -> List[Region]:
    """Sort and merge overlapping or touching intervals (so every start position is unique)."""
    by_chrom: Dict[str, List[Tuple[int, int]]] = {}
    for record in records:
        by_chrom.setdefault(record.chrom, []).append((record.start, record.end))
    merged: List[Region] = []
    for chrom in sorted(by_chrom):
        current: Optional[List[int]] = None
        for start, end in sorted(by_chrom[chrom]):
            if current is not None and start <= current[1]:
                current[1] = max(current[1], end)
                continue
            if current is not None:
                merged.append(Region(chrom, current[0], current[1]))
            current = [start, end]
        if current is not None:
            merged.append(Region(chrom, current[0], current[1]))
    return merged


def _block_is_eval(seed: int, chrom: str, block: int, eval_fraction: float) -> bool:
    digest = hashlib.sha256(f"{seed}\t{chrom}\t{block}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2.0**64 < eval_fraction


def assign_splits(
    intervals: Sequence[Region],
    length: int,
    *,
    eval_chroms: Sequence[str] = (),
    eval_fraction: Optional[float] = None,
    split_block: Optional[int] = None,
    seed: int = 0,
) -> List[Tuple[Region, str]]:
    """Label (pieces of) merged intervals with a split; see the module docstring.

    Returns ``(region, split)`` pairs, in the order of ``intervals``.
    """
    if eval_chroms and eval_fraction is not None:
        raise InputError("give either eval chromosomes or an eval fraction, not both")
    if eval_chroms:
        held_out = set(eval_chroms)
        return [(region, EVAL if region.chrom in held_out else TRAIN) for region in intervals]
    fraction = 0.1 if eval_fraction is None else float(eval_fraction)
    if not 0.0 < fraction < 1.0:
        raise InputError(f"eval fraction must be between 0 and 1 (exclusive), got {fraction}")
    block = 10 * length if not split_block else int(split_block)
    if block < length:
        raise InputError(f"split block ({block} bp) must be at least the window length ({length} bp)")
    pieces: List[Tuple[Region, str]] = []
    for region in intervals:
        first, last = region.start // block, (region.end - 1) // block
        labels = ((k, EVAL if _block_is_eval(seed, region.chrom, k, fraction) else TRAIN) for k in range(first, last + 1))
        for split, group in itertools.groupby(labels, key=lambda item: item[1]):
            blocks = [k for k, _ in group]
            start = max(region.start, blocks[0] * block)
            end = min(region.end, (blocks[-1] + 1) * block)
            pieces.append((Region(region.chrom, start, end), split))
    return pieces


def count_starts(region_length: int, length: int, step: int) -> int:
    """Number of windows ``[s, s + length)`` with ``s = start + k * step`` inside a region."""
    return 0 if region_length < length else (region_length - length) // step + 1


def sample_windows(
    pieces: Sequence[Tuple[Region, str]],
    *,
    length: int,
    step: int,
    count: int,
    seed: int,
) -> List[Tuple[str, int, str]]:
    """Draw ``count`` distinct windows uniformly from all candidates of ``pieces``.

    Returns ``(chrom, start, split)`` in draw order. Raises :class:`InputError` when no piece
    holds a window or fewer than ``count`` candidates exist (the message says how many).
    """
    counts = np.array([count_starts(region.length, length, step) for region, _ in pieces], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        raise _no_window_error(pieces, length)
    if count > total:
        raise InputError(
            f"requested {count} windows (size x batches) but only {total} distinct windows of {length} bp "
            f"(step {step}) exist in the mappable intervals; lower --size/--batches or --step"
        )
    rng = np.random.default_rng(seed)
    drawn = rng.choice(total, size=count, replace=False)
    ends = np.cumsum(counts)
    piece_of = np.searchsorted(ends, drawn, side="right")
    offsets = drawn - (ends[piece_of] - counts[piece_of])
    out = []
    for piece, offset in zip(piece_of.tolist(), offsets.tolist()):
        region, split = pieces[piece]
        out.append((region.chrom, region.start + offset * step, split))
    return out


def _no_window_error(pieces: Sequence[Tuple[Region, str]], length: int) -> InputError:
    longest = max((region.length for region, _ in pieces), default=0)
    return InputError(f"no mappable interval is at least {length} bp long (longest: {longest} bp)")


def assign_shards(drawn: Sequence[Tuple[str, int, str]], length: int, size: int) -> List[Window]:
    """Draw ``i`` goes to shard ``i // size`` of its split, at the next record index there."""
    windows: List[Window] = []
    next_index: Dict[Tuple[str, int], int] = {}
    for i, (chrom, start, split) in enumerate(drawn):
        key = (split, i // size)
        index = next_index.get(key, 0)
        next_index[key] = index + 1
        windows.append(Window(chrom, start, start + length, split, i // size, index))
    return windows


def plan_windows(
    intervals: Sequence[Region],
    *,
    length: int,
    step: int,
    size: int,
    batches: int,
    seed: int,
    eval_chroms: Sequence[str] = (),
    eval_fraction: Optional[float] = None,
    split_block: Optional[int] = None,
) -> List[Window]:
    """Merged mappable intervals -> every window to read, with split, shard and record index.

    Raises :class:`InputError` for impossible requests (see :func:`sample_windows`), held-out
    chromosomes without a window-sized interval, or a split left without windows.
    """
    for name, value in (("length", length), ("step", step), ("size", size), ("batches", batches)):
        if value < 1:
            raise InputError(f"{name} must be a positive integer, got {value}")
    pieces = assign_splits(intervals, length, eval_chroms=eval_chroms, eval_fraction=eval_fraction,
                           split_block=split_block, seed=seed)
    if not any(region.length >= length for region, _ in pieces):
        raise _no_window_error(pieces, length)
    if eval_chroms:
        usable = {region.chrom for region, _ in pieces if region.length >= length}
        absent = [chrom for chrom in eval_chroms if chrom not in usable]
        if absent:
            raise InputError(f"eval chromosome(s) {format_list(absent)} have no mappable interval of at least {length} bp")
    drawn = sample_windows(pieces, length=length, step=step, count=size * batches, seed=seed)
    for split in SPLITS:
        if not any(item[2] == split for item in drawn):
            raise InputError(
                f"none of the {len(drawn)} sampled windows fell in the {split} split; "
                "sample more windows or change --eval-chroms/--eval-fraction"
            )
    return assign_shards(drawn, length, size)
