"""Window sampling and split assignment for BigWigTrackGen (plain functions, no Beam/TFX).

Candidate windows are every ``[s, s + length)`` with ``s = interval.start + k * step`` lying
wholly inside one (merged) mappable interval. ``size * batches`` of them are drawn uniformly
**without replacement** with ``numpy.random.default_rng(seed)``; the draw order is the record
order. Draw ``i`` belongs to batch ``i // size``; each batch becomes shard ``i // size`` of
every split it has windows in.

Other modes (``sampling``): ``blocks`` draws from the non-overlapping tiles
``interval.start + k * length`` only; ``hotspots`` draws from windows that each cover a group of
hotspot intervals (e.g. DHS hotspots; :func:`group_hotspots`), kept when at least
``min_mappable`` of the window is mappable. Draws, batches and shards work the same way.

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


def split_rule(length: int, eval_chroms: Sequence[str] = (), eval_fraction: Optional[float] = None,
               split_block: Optional[int] = None) -> Tuple[Optional[frozenset], float, int]:
    """Validated split settings: ``(held-out chromosomes or None, eval fraction, block bp)``."""
    if eval_chroms and eval_fraction is not None:
        raise InputError("give either eval chromosomes or an eval fraction, not both")
    if eval_chroms:
        return frozenset(eval_chroms), 0.0, 0
    fraction = 0.1 if eval_fraction is None else float(eval_fraction)
    if not 0.0 < fraction < 1.0:
        raise InputError(f"eval fraction must be between 0 and 1 (exclusive), got {fraction}")
    block = 10 * length if not split_block else int(split_block)
    if block < length:
        raise InputError(f"split block ({block} bp) must be at least the window length ({length} bp)")
    return None, fraction, block


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
    held_out, fraction, block = split_rule(length, eval_chroms, eval_fraction, split_block)
    if held_out is not None:
        return [(region, EVAL if region.chrom in held_out else TRAIN) for region in intervals]
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


SAMPLING_MODES: Tuple[str, ...] = ("uniform", "hotspots", "blocks")


@dataclasses.dataclass(frozen=True)
class HotspotGroup:
    """Hotspots ``first..last`` (indexes into the merged, sorted hotspots) and the ``length`` bp
    window ``[start, end)`` centred on their span."""

    chrom: str
    start: int
    end: int
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def group_hotspots(hotspots: Sequence[Region], length: int) -> List[HotspotGroup]:
    """Cover merged hotspots with as few ``length`` bp windows as possible.

    Per chromosome, left to right: a group opens at the first hotspot not yet grouped and takes
    every following hotspot that ends within ``length`` bp of the group's start; the window is
    centred on the group's span (``start = (span_start + span_end) // 2 - length // 2``, so a
    hotspot longer than ``length`` gets a window on its centre). Opening each group as far right
    as possible is what makes the number of windows the minimum (the greedy cover of intervals).
    """
    groups: List[HotspotGroup] = []
    i = 0
    while i < len(hotspots):
        first = hotspots[i]
        j = i
        while (j + 1 < len(hotspots) and hotspots[j + 1].chrom == first.chrom
               and hotspots[j + 1].end - first.start <= length):
            j += 1
        span_start, span_end = first.start, hotspots[j].end
        start = (span_start + span_end) // 2 - length // 2
        groups.append(HotspotGroup(first.chrom, start, start + length, i, j))
        i = j + 1
    return groups


def mappable_coverage(intervals: Sequence[Region], windows: Sequence[Tuple[str, int, int]]) -> np.ndarray:
    """``[W]`` fraction of each ``(chrom, start, end)`` window covered by the merged ``intervals``."""
    by_chrom: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for chrom in {region.chrom for region in intervals}:
        own = [region for region in intervals if region.chrom == chrom]
        starts = np.array([r.start for r in own], dtype=np.int64)
        ends = np.array([r.end for r in own], dtype=np.int64)
        by_chrom[chrom] = (starts, ends, np.concatenate(([0], np.cumsum(ends - starts))))
    coverage = np.zeros(len(windows), dtype=np.float64)
    for k, (chrom, start, end) in enumerate(windows):
        if chrom not in by_chrom:
            continue
        starts, ends, cumulative = by_chrom[chrom]
        # intervals first..last-1 overlap [start, end): full lengths, then trim the two ends
        first = int(np.searchsorted(ends, start, side="right"))
        last = int(np.searchsorted(starts, end, side="left"))
        if last <= first:
            continue
        covered = cumulative[last] - cumulative[first]
        covered -= max(0, start - int(starts[first])) + max(0, int(ends[last - 1]) - end)
        coverage[k] = covered / (end - start)
    return coverage


def window_split(chrom: str, start: int, end: int, held_out: Optional[frozenset], fraction: float, block: int,
                 seed: int) -> Optional[str]:
    """Split of a window under :func:`split_rule`'s settings; None when its genome blocks disagree
    (such a window would share bases with the other split)."""
    if held_out is not None:
        return EVAL if chrom in held_out else TRAIN
    labels = {EVAL if _block_is_eval(seed, chrom, k, fraction) else TRAIN
              for k in range(start // block, (end - 1) // block + 1)}
    return labels.pop() if len(labels) == 1 else None


def hotspot_candidates(
    hotspots: Sequence[Region],
    intervals: Sequence[Region],
    chrom_sizes: Dict[str, int],
    *,
    length: int,
    min_mappable: float,
    seed: int,
    eval_chroms: Sequence[str] = (),
    eval_fraction: Optional[float] = None,
    split_block: Optional[int] = None,
) -> Tuple[List[Tuple[HotspotGroup, str]], Dict[str, int]]:
    """Hotspot group windows that lie on their chromosome, are at least ``min_mappable`` covered
    by the mappable intervals and within one split; returns them with their split and the counts
    of groups dropped for each reason."""
    held_out, fraction, block = split_rule(length, eval_chroms, eval_fraction, split_block)
    groups = group_hotspots(hotspots, length)
    on_chrom = [g for g in groups if g.start >= 0 and g.end <= chrom_sizes.get(g.chrom, -1)]
    coverage = mappable_coverage(intervals, [(g.chrom, g.start, g.end) for g in on_chrom])
    mappable = [g for g, fraction_covered in zip(on_chrom, coverage) if fraction_covered >= min_mappable - 1e-12]
    kept: List[Tuple[HotspotGroup, str]] = []
    for group in mappable:
        split = window_split(group.chrom, group.start, group.end, held_out, fraction, block, seed)
        if split is not None:
            kept.append((group, split))
    dropped = {"off_chromosome": len(groups) - len(on_chrom), "below_min_mappable": len(on_chrom) - len(mappable),
               "across_splits": len(mappable) - len(kept)}
    return kept, dropped


def sample_listed(candidates: Sequence[Tuple[str, int, str]], count: int, seed: int, what: str
                  ) -> List[Tuple[str, int, str]]:
    """Draw ``count`` of the listed ``(chrom, start, split)`` windows without replacement, in draw order."""
    if count > len(candidates):
        raise InputError(f"requested {count} windows (size x batches) but only {len(candidates)} {what} exist; "
                         "lower --size/--batches")
    drawn = np.random.default_rng(seed).choice(len(candidates), size=count, replace=False)
    return [candidates[i] for i in drawn.tolist()]


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
    sampling: str = "uniform",
    hotspots: Sequence[Region] = (),
    chrom_sizes: Optional[Dict[str, int]] = None,
    min_mappable: float = 1.0,
) -> List[Window]:
    """Merged mappable intervals -> every window to read, with split, shard and record index.

    ``sampling``: ``uniform`` (every ``step``-spaced window inside the intervals), ``blocks``
    (the non-overlapping ``length`` bp tiles of each interval, i.e. ``step = length``) or
    ``hotspots`` (the :func:`group_hotspots` windows of the merged ``hotspots`` that lie on
    their chromosome (``chrom_sizes``), at least ``min_mappable`` inside the intervals and in one
    split). Raises :class:`InputError` for impossible requests (see :func:`sample_windows`),
    held-out chromosomes without a window-sized interval, or a split left without windows.
    """
    for name, value in (("length", length), ("step", step), ("size", size), ("batches", batches)):
        if value < 1:
            raise InputError(f"{name} must be a positive integer, got {value}")
    if sampling not in SAMPLING_MODES:
        raise InputError(f"unknown sampling {sampling!r}: choose one of {', '.join(SAMPLING_MODES)}")
    if sampling == "hotspots":
        if not hotspots:
            raise InputError("--sampling hotspots needs a hotspot BED (--hotspots) with at least one interval")
        candidates, dropped = hotspot_candidates(
            hotspots, intervals, chrom_sizes or {}, length=length, min_mappable=min_mappable, seed=seed,
            eval_chroms=eval_chroms, eval_fraction=eval_fraction, split_block=split_block)
        listed = [(group.chrom, group.start, split) for group, split in candidates]
        what = (f"hotspot windows of {length} bp (dropped: {dropped['off_chromosome']} off the chromosome, "
                f"{dropped['below_min_mappable']} below --min-mappable {min_mappable}, {dropped['across_splits']} "
                "across a split boundary)")
        drawn = sample_listed(listed, size * batches, seed, what)
        _check_both_splits(drawn)
        return assign_shards(drawn, length, size)
    if sampling == "blocks":
        step = length
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
    _check_both_splits(drawn)
    return assign_shards(drawn, length, size)


def _check_both_splits(drawn: Sequence[Tuple[str, int, str]]) -> None:
    for split in SPLITS:
        if not any(item[2] == split for item in drawn):
            raise InputError(
                f"none of the {len(drawn)} sampled windows fell in the {split} split; "
                "sample more windows or change --eval-chroms/--eval-fraction"
            )
