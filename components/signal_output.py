"""Binned signal -> bedGraph / bigWig: the one writer behind ``predict-regions`` and ``to-bedgraph``.

Conventions (0-based half-open, like BED):

* A prediction array is ``[regions, bins, columns]`` (float; NaN = no prediction). Two row
  layouts exist, told apart by the ``.npy.json`` sidecar:

  - ``tiles`` (what ``predict-regions`` writes; :func:`tile_region`): region ``r`` is covered
    by ``n = ceil((end - start) / length)`` windows of ``length`` bp, laid end to end and
    centred on the region; row ``r`` holds the bins of those windows that overlap the region
    (so every region is predicted at its own span), NaN-padded to the widest row; the first and
    last bin are cut at the region's edges when written, so no interval leaves its region.
  - ``centred`` (an array without sidecar, e.g. the original project's): row ``r`` covers the
    window of ``bins * step`` bp *centred* on BED region ``r`` by :func:`resize_interval` (the
    original ``pad_or_crop``: ``pad = span - (end - start)``, ``start -= pad // 2``, the odd
    base goes to the right; a negative pad crops).

  Bin ``j`` of a row is ``[s + j * step, s + (j + 1) * step)`` with ``s`` the row's start.
* Overlapping bins (overlapping regions, or windows not on a common grid) are split at every
  bin edge and each piece gets the mean of the bins covering it; NaN bins are ignored; pieces
  covered by no finite bin are not written. Output intervals are therefore non-overlapping.
* Chromosomes are written in byte (C-locale) order and intervals by start, i.e. the order of
  ``LC_COLLATE=C sort -k1,1 -k2,2n`` that ``bedGraphToBigWig`` requires; the bigWig header
  lists the chromosomes in the same order. With chromosome sizes, intervals are clipped to
  ``[0, size)``; without them an interval that starts before 0 is an error (never written).
* File names: ``{prefix}.{label}.bedgraph`` and ``{prefix}.{label}.bw``, ``label`` = the track
  identifier when known (tracks.tsv identifiers stored with a track model), else the track
  index; each bedGraph starts with a UCSC ``track type=bedGraph name=... description=...``
  line (``bedGraphToBigWig`` accepts it). Values ``%.6g``.

NumPy and pyBigWig only (no TensorFlow), so ``to-bedgraph`` starts fast.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from components.genome import format_list, open_text
from components.errors import InputError
from components.outputs import OutputFiles, output_group

LOG = logging.getLogger(__name__)


def resize_interval(start: int, end: int, span: int) -> Tuple[int, int]:
    """``[start, end)`` padded (or cropped) about its centre to ``span`` bp; odd base to the right."""
    pad = span - (end - start)
    new_start = start - pad // 2
    return new_start, new_start + span


@dataclasses.dataclass(frozen=True)
class RegionTiles:
    """How one region is tiled with model windows and which of their bins form its output row.

    Attributes:
      window_start: start of the first window (windows ``[window_start + k * length, ... + length)``).
      windows: number of windows ``n``.
      first_bin: bins of the concatenated windows skipped before the row (``[n * length / step]``
        bins in all; the row is bins ``first_bin .. first_bin + bins - 1``).
      bins: bins in the row.
      row_start: start of the row's first bin (``window_start + first_bin * step``).
    """

    window_start: int
    windows: int
    first_bin: int
    bins: int
    row_start: int


def tile_region(start: int, end: int, length: int, step: int, fragments: Optional[int] = None) -> RegionTiles:
    """Tile ``[start, end)`` with ``length`` bp windows (bins of ``step`` bp; ``step`` divides ``length``).

    ``n = ceil((end - start) / length)`` windows (at least 1) laid end to end and centred on the
    region (:func:`resize_interval`); the row keeps the bins overlapping the region. With
    ``fragments`` every region gets that many windows and the row keeps all their bins (the
    original ``predict_array`` layout: ``fragments * length`` bp centred on the region).
    Example: ``[1000, 2000)``, ``length=1280``, ``step=128``: one window ``[860, 2140)``, bins
    1..8 of it, row ``[988, 2012)``.
    """
    if length % step:
        raise InputError(f"window length {length} is not a multiple of the bin width {step}")
    windows = fragments if fragments is not None else max(1, -(-(end - start) // length))
    window_start, _ = resize_interval(start, end, windows * length)
    if fragments is not None:
        return RegionTiles(window_start, windows, 0, windows * length // step, window_start)
    first = (start - window_start) // step
    last = -(-(end - window_start) // step)  # exclusive; ceil
    return RegionTiles(window_start, windows, first, last - first, window_start + first * step)


def row_layout(records: Sequence[Tuple[int, int]], info: Mapping[str, object], n_bins: int, step: int
               ) -> Tuple[List[int], Optional[List[Tuple[int, int]]]]:
    """``(row starts, row limits)`` of an array over ``records`` (``(start, end)`` pairs).

    ``info`` is the array's sidecar: ``layout == "tiles"`` (with ``length`` and
    ``fixed_fragments``) is the ``predict-regions`` layout, whose rows are limited to their
    regions (limits = ``records``; not with fixed fragments, which cover ``fragments * length``
    bp as the original did); anything else the centred layout of ``n_bins`` bins (no limits).
    """
    if info.get("layout") == "tiles":
        length = int(info["length"])
        fixed = info.get("fixed_fragments")
        tiles = [tile_region(start, end, length, step, int(fixed) if fixed else None) for start, end in records]
        return [t.row_start for t in tiles], None if fixed else [(start, end) for start, end in records]
    return [resize_interval(start, end, n_bins * step)[0] for start, end in records], None


def read_chrom_sizes(path: str) -> Dict[str, int]:
    """``{chrom: size}`` from a UCSC ``chrom.sizes`` (or ``.fai``) file: name, size, ...; ``#`` skipped."""
    sizes: Dict[str, int] = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) < 2 or not fields[1].isdigit():
                raise InputError(f"{path}:{number}: expected 'chrom<TAB>size', got {line.rstrip()!r}")
            sizes[fields[0]] = int(fields[1])
    if not sizes:
        raise InputError(f"{path}: no chromosome sizes found")
    return sizes


def average_overlaps(starts: np.ndarray, ends: np.ndarray, values: np.ndarray
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-overlapping, sorted ``(starts, ends, means)`` of the intervals of one chromosome.

    Every maximal piece between interval edges gets the mean value of the intervals covering it;
    NaN values are dropped first; uncovered pieces are omitted.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values) & (ends > starts)
    starts, ends, values = starts[keep], ends[keep], values[keep]
    if starts.size == 0:
        return starts, ends, values
    order = np.lexsort((ends, starts))
    starts, ends, values = starts[order], ends[order], values[order]
    if np.all(starts[1:] >= ends[:-1]):  # already disjoint (the usual case): nothing to average
        return starts, ends, values
    edges = np.unique(np.concatenate([starts, ends]))
    first, last = np.searchsorted(edges, starts), np.searchsorted(edges, ends)
    total = np.zeros(edges.size)
    count = np.zeros(edges.size, dtype=np.int64)
    np.add.at(total, first, values)
    np.add.at(total, last, -values)
    np.add.at(count, first, 1)
    np.add.at(count, last, -1)
    total, count = np.cumsum(total)[:-1], np.cumsum(count)[:-1]  # piece k = [edges[k], edges[k+1])
    covered = count > 0
    return edges[:-1][covered], edges[1:][covered], total[covered] / count[covered]


def _open_bigwig(path: str, chrom_sizes: Sequence[Tuple[str, int]]):
    import pyBigWig

    writer = pyBigWig.open(path, "w")
    if writer is None:
        raise InputError(f"{path}: cannot create bigWig file")
    writer.addHeader(list(chrom_sizes), maxZooms=10)
    return writer


TrackLabel = Union[int, str]


def track_line(name: str, description: str) -> str:
    """UCSC ``track type=bedGraph name="..." description="..."`` line (double quotes dropped from values)."""
    clean = [value.replace('"', "'").replace("\n", " ") for value in (name, description)]
    return f'track type=bedGraph name="{clean[0]}" description="{clean[1]}"\n'


def check_fits(chroms: Sequence[Optional[str]], row_starts: Sequence[int], where: Sequence[str]) -> None:
    """Raise :class:`InputError` unless every row starts at >= 0 (needed when no chromosome sizes are known).

    ``where`` names each row (e.g. ``path:line``) for the message.
    """
    bad = [f"{label} ({chrom}:{start})" for chrom, start, label in zip(chroms, row_starts, where)
           if chrom is not None and start < 0]
    if bad:
        raise InputError(f"{len(bad)} region(s) would start before position 0 of their chromosome: "
                         f"{format_list(bad)}; pass --reference FA or --chrom-sizes FILE to clip them")


def write_signal(chroms: Sequence[Optional[str]], window_starts: Sequence[int], array: np.ndarray,
                 tracks: Mapping[TrackLabel, int], prefix: str, step: int,
                 chrom_sizes: Optional[Mapping[str, int]] = None, bedgraph: bool = True,
                 bigwig: bool = False, outputs: Optional[OutputFiles] = None,
                 descriptions: Optional[Mapping[TrackLabel, str]] = None,
                 row_limits: Optional[Sequence[Tuple[int, int]]] = None) -> List[str]:
    """Write one bedGraph and/or bigWig per track.

    Args:
      chroms: ``[regions]`` chromosome per row (None = skip the row).
      window_starts: ``[regions]`` start of each row's first bin (see the module docstring).
      array: ``[regions, bins, columns]`` (a ``np.load(mmap_mode='r')`` array is fine: rows
        are read one chromosome and one track at a time).
      tracks: ``{track label used in file names: column of array}``.
      prefix: output prefix; step: bin width in bp.
      chrom_sizes: clip intervals to ``[0, size)`` and build the bigWig header (required for
        ``bigwig``); without them an interval starting before 0 raises :class:`InputError`.
      outputs: publish the files with this group (default: all files of this call or none).
      descriptions: ``{label: text}`` for the bedGraph ``track`` lines (default: the label).
      row_limits: ``[regions]`` ``(start, end)`` each row's intervals are clipped to (the BED
        region itself in the ``tiles`` layout, so no interval leaves its region).
    Returns:
      Paths written.
    """
    if array.ndim != 3 or array.shape[0] != len(chroms):
        raise InputError(f"array of shape {array.shape} does not match {len(chroms)} regions "
                         "(expected [regions, bins, tracks])")
    if bigwig and not chrom_sizes:
        raise InputError("bigWig output needs chromosome sizes: pass --reference FA or --chrom-sizes FILE")
    bad = [track for track, column in tracks.items() if not 0 <= column < array.shape[2]]
    if bad:
        raise InputError(f"track(s) {format_list(bad)} not in the array (it has {array.shape[2]} track columns)")
    rows_by_chrom: Dict[str, List[int]] = {}
    for row, chrom in enumerate(chroms):
        if chrom is not None:
            rows_by_chrom.setdefault(chrom, []).append(row)
    if chrom_sizes:
        unknown = sorted(c for c in rows_by_chrom if c not in chrom_sizes)
        if unknown:
            raise InputError(f"chromosome(s) {format_list(unknown)} missing from the chromosome sizes "
                             f"(which list {format_list(sorted(chrom_sizes))}): wrong assembly?")
    order = sorted(rows_by_chrom)  # byte order = LC_COLLATE=C sort -k1,1
    header = sorted((chrom_sizes or {}).items())
    starts_all = np.asarray(window_starts, dtype=np.int64)
    limits = np.asarray(row_limits, dtype=np.int64).reshape(-1, 2) if row_limits is not None else None
    offsets = np.arange(array.shape[1], dtype=np.int64) * step
    stem = os.path.basename(prefix)
    written: List[str] = []
    with output_group(outputs) as files:
        for track, column in tracks.items():
            graph_path, bigwig_path = f"{prefix}.{track}.bedgraph", f"{prefix}.{track}.bw"
            graph = open(files.reserve(graph_path), "w", encoding="utf-8") if bedgraph else None
            writer = _open_bigwig(files.reserve(bigwig_path), header) if bigwig else None
            try:
                if graph is not None:
                    files.current = graph_path
                    graph.write(track_line(f"{stem}.{track}", (descriptions or {}).get(track, str(track))))
                for chrom in order:
                    rows = np.asarray(rows_by_chrom[chrom])
                    starts = (starts_all[rows][:, None] + offsets[None, :]).ravel()
                    values = np.asarray(array[rows, :, column], dtype=np.float64).ravel()
                    ends = starts + step
                    if limits is not None:
                        low = np.repeat(limits[rows, 0], array.shape[1])
                        high = np.repeat(limits[rows, 1], array.shape[1])
                        starts, ends = np.clip(starts, low, high), np.clip(ends, low, high)
                    if chrom_sizes:
                        starts, ends = np.clip(starts, 0, chrom_sizes[chrom]), np.clip(ends, 0, chrom_sizes[chrom])
                    starts, ends, means = average_overlaps(starts, ends, values)
                    if means.size == 0:
                        continue
                    if starts[0] < 0:
                        raise InputError(f"{chrom}:{int(starts[0])}: interval starts before position 0 and no "
                                         "chromosome sizes were given to clip it (--reference or --chrom-sizes)")
                    if graph is not None:
                        files.current = graph_path
                        graph.writelines(f"{chrom}\t{s}\t{e}\t{v:.6g}\n"
                                         for s, e, v in zip(starts.tolist(), ends.tolist(), means.tolist()))
                    if writer is not None:
                        files.current = bigwig_path
                        writer.addEntries([chrom] * means.size, starts.tolist(), ends=ends.tolist(),
                                          values=means.tolist())
            finally:
                if graph is not None:
                    files.current = graph_path
                    graph.close()
                    written.append(graph_path)
                if writer is not None:
                    files.current = bigwig_path
                    writer.close()
                    written.append(bigwig_path)
    return written


# --------------------------------------------------------------------------------------------
# The .npy sidecar: what the array columns and bins mean
# --------------------------------------------------------------------------------------------
def sidecar_path(array_path: str) -> str:
    return array_path + ".json"


def write_sidecar(array_path: str, info: Mapping[str, object], outputs: Optional[OutputFiles] = None) -> None:
    """``<array>.json``: ``step`` (bp per bin), ``span`` (bp per row), ``tracks`` (track id per column), ...

    Published with ``outputs`` when given (together with the array), else on its own."""
    with output_group(outputs) as files:
        with open(files.reserve(sidecar_path(array_path)), "w", encoding="utf-8") as handle:
            json.dump(dict(info), handle, indent=2)


def read_sidecar(array_path: str) -> Dict[str, object]:
    path = sidecar_path(array_path)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def track_columns(requested: Optional[Sequence[int]], column_tracks: Optional[Sequence[int]], n_columns: int
                  ) -> Dict[int, int]:
    """``{track id: array column}`` for ``--tracks``.

    ``column_tracks`` (from the sidecar) names the track stored in each column; without it,
    column ``i`` is track ``i``. ``requested`` None = every column.
    """
    names = list(column_tracks) if column_tracks is not None else list(range(n_columns))
    if requested is None:
        return {track: column for column, track in enumerate(names)}
    mapping = {}
    for track in requested:
        if track not in names:
            raise InputError(f"track {track} is not in the array (it holds tracks {format_list(names)})")
        mapping[track] = names.index(track)
    return mapping


def labelled_columns(columns: Mapping[int, int], info: Mapping[str, object]
                     ) -> Tuple[Dict[TrackLabel, int], Dict[TrackLabel, str]]:
    """``({file label: column}, {file label: description})`` for :func:`write_signal`.

    The sidecar's ``labels`` / ``descriptions`` (one per column, written by ``predict-regions``)
    name the files; an array without them keeps the track index as label.
    """
    labels = info.get("labels")
    descriptions = info.get("descriptions") or []
    by_label: Dict[TrackLabel, int] = {}
    texts: Dict[TrackLabel, str] = {}
    for track, column in columns.items():
        label = safe_label(str(labels[column])) if labels else track
        if label in by_label:  # two identifiers that differ only in characters a file name cannot hold
            label = f"{label}-{track}"
        by_label[label] = column
        texts[label] = str(descriptions[column]) if column < len(descriptions) else f"track {track}"
    return by_label, texts


def safe_label(text: str) -> str:
    """A track identifier usable in a file name (path separators and blanks become ``_``)."""
    cleaned = "".join("_" if c in "/\\" or c.isspace() else c for c in text).strip(".")
    return cleaned or "track"



# --------------------------------------------------------------------------------------------
# Per-base signal (attributions) -> run-length bedGraph
# --------------------------------------------------------------------------------------------
def run_length_intervals(start: int, values: np.ndarray) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """``(starts, ends, texts)``: runs of equal ``%.6g`` values of a per-base signal from ``start``; NaN omitted."""
    values = np.asarray(values, dtype=np.float64)
    texts = np.array(["nan" if not np.isfinite(v) else f"{v:.6g}" for v in values.tolist()], dtype=object)
    if texts.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), []
    breaks = np.nonzero(texts[1:] != texts[:-1])[0] + 1
    run_starts = np.concatenate([[0], breaks])
    run_ends = np.concatenate([breaks, [texts.size]])
    keep = texts[run_starts] != "nan"
    return (run_starts[keep] + start, run_ends[keep] + start, texts[run_starts[keep]].tolist())


def write_base_bedgraph(path: str, signals: Sequence[Tuple[str, int, np.ndarray]]) -> None:
    """One bedGraph of per-base signals: ``(chrom, start of values[0], values [n])`` each.

    One interval per base or run of equal values, chromosomes in byte order and intervals by
    start (``bedGraphToBigWig`` order). Signals of one chromosome must not overlap. Written to a
    temporary file, then renamed.
    """
    ordered = sorted(signals, key=lambda item: (item[0].encode("utf-8"), item[1]))
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        for chrom, start, values in ordered:
            starts, ends, texts = run_length_intervals(start, values)
            handle.writelines(f"{chrom}\t{s}\t{e}\t{t}\n" for s, e, t in zip(starts.tolist(), ends.tolist(), texts))
    os.replace(temporary, path)
