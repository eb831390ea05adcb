"""Payload predictions over the ``make-dataset`` table (``enformer-tfx predict``).

Input table (TSV, header): ``index name group fold activity annotation sequence``, written by
``make-dataset`` and kept by PayloadExampleGen as ``dataset.tsv`` in its Examples artifact;
``annotation`` is ``site:start-end;site:start-end`` in construct coordinates (0-based
half-open), ``sequence`` the whole construct (flanks lower case).

Per payload:

* offsets: all window starts ``0, stride, 2 * stride, ... <= len(construct) - length``; a
  ``sample`` below 1 keeps ``floor(n * sample)`` of them, a ``sample`` >= 1 keeps
  ``min(sample, n)``; at least one is always kept. The draw uses a generator seeded by
  ``(seed, crc32(name))``, so a payload's offsets depend only on the seed and its own name
  (not on the table order), and the kept offsets are reported in increasing order.
* ``predicted``: the payload head output; ``peak``: for each annotated site, the maximum of
  species head track ``track`` over the bins overlapping the site (bin ``j`` of a window at
  ``offset`` is ``[offset + 128 j, offset + 128 (j + 1))``); a site outside the window scores
  0, as in the original. ``peaksum`` = sum of the per-site maxima.
* ``reverse_complement``: forward and reverse-complement windows go through the model in the
  same call; outputs are averaged with the reverse strand's bins flipped back.
"""
from __future__ import annotations

import dataclasses
import math
import os
import zlib
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from components import genome
from components.records import DATASET_TABLE, TABLE_COLUMNS
from components.genome import format_list, open_text, tab_header
from components.errors import InputError
from components.correlation import pearson_r, spearman_rho
from trainer.enformer import DOWNSAMPLING
from trainer.predict.predictor import ACTIVITY, Predictor, predict_codes

OUTPUT_COLUMNS = ("index", "name", "group", "fold", "offset", "activity", "predicted", "peaksum", "peak")
SUMMARY_COLUMNS = ("index", "name", "group", "fold", "activity", "offsets", "predicted", "peaksum")


@dataclasses.dataclass(frozen=True)
class Site:
    name: str
    start: int
    end: int


@dataclasses.dataclass
class PayloadRow:
    """One table row; ``codes`` is the construct as ``[length]`` uint8 codes."""

    index: str
    name: str
    group: str
    fold: str
    activity: float
    sites: Tuple[Site, ...]
    codes: np.ndarray


def parse_annotation(text: str, where: str) -> Tuple[Site, ...]:
    """``'a:10-20;b:30-40'`` -> sites (site names may contain ':')."""
    sites = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, _, coords = item.rpartition(":")
        start, _, end = coords.partition("-")
        if not name or not start.isdigit() or not end.isdigit() or int(end) <= int(start):
            raise InputError(f"{where}: annotation {item!r}: expected 'site:start-end' with start < end")
        sites.append(Site(name, int(start), int(end)))
    return tuple(sites)


def dataset_table_path(path: str) -> str:
    """The ``make-dataset`` table ``path`` names: the TSV itself, or the ``dataset.tsv`` that
    PayloadExampleGen keeps inside its Examples artifact directory."""
    if not os.path.isdir(path):
        return path
    table = os.path.join(path, DATASET_TABLE)
    if not os.path.exists(table):
        raise InputError(f"{path}: a directory without {DATASET_TABLE}; pass the make-dataset table (TSV) or a "
                         "payload Examples artifact written by PayloadExampleGen")
    return table


def read_dataset_table(path: str) -> Iterator[PayloadRow]:
    """Stream the rows of a ``make-dataset`` table (raises :class:`InputError` naming path:line)."""
    with open_text(path) as handle:
        header = tab_header(handle.readline(), TABLE_COLUMNS, f"{path}:1")
        missing = [column for column in TABLE_COLUMNS if column not in header]
        if missing:
            raise InputError(f"{path}: not a make-dataset table: missing column(s) {format_list(missing)} "
                             f"(expected {' '.join(TABLE_COLUMNS)})")
        col = {name: header.index(name) for name in TABLE_COLUMNS}
        for number, line in enumerate(handle, start=2):
            if not line.strip():
                continue
            fields = line.rstrip("\n\r").split("\t")
            where = f"{path}:{number}"
            if len(fields) < len(header):
                raise InputError(f"{where}: expected {len(header)} columns, got {len(fields)}")
            try:
                activity = float(fields[col["activity"]])
            except ValueError:
                raise InputError(f"{where}: activity {fields[col['activity']]!r} is not a number") from None
            yield PayloadRow(
                index=fields[col["index"]], name=fields[col["name"]], group=fields[col["group"]],
                fold=fields[col["fold"]], activity=activity,
                sites=parse_annotation(fields[col["annotation"]], where),
                codes=genome.encode_sequence(fields[col["sequence"]]))


def parse_sample(text: str) -> float:
    """``--sample``: a ratio in ``(0, 1)`` or a count ``>= 1``."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--sample {text!r}: expected a ratio (0 < r < 1) or a count (>= 1)") from None
    if not value > 0:
        raise InputError(f"--sample must be > 0 (a ratio below 1 or a count), got {text}")
    return value


def window_offsets(construct_length: int, length: int, stride: int, sample: float, seed: int, name: str) -> np.ndarray:
    """Seeded, sorted sample of window starts (see the module docstring)."""
    if construct_length < length:
        raise InputError(f"payload {name}: construct of {construct_length} bp is shorter than the {length} bp window")
    if stride < 1:
        raise InputError(f"--stride must be >= 1, got {stride}")
    offsets = np.arange(0, construct_length - length + 1, stride, dtype=np.int64)
    keep = math.floor(offsets.size * sample) if sample < 1 else min(int(sample), offsets.size)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    return np.sort(rng.permutation(offsets)[:max(1, keep)])


def site_peaks(track: np.ndarray, offset: int, sites: Sequence[Site], bin_size: int = DOWNSAMPLING) -> np.ndarray:
    """``[bins]`` track of a window at ``offset`` -> ``[sites]`` max over bins overlapping each site."""
    peaks = np.zeros(len(sites), dtype=np.float64)
    bins = track.shape[0]
    for i, site in enumerate(sites):
        first = max(0, (site.start - offset) // bin_size)
        last = min(bins, -((offset - site.end) // bin_size))  # ceil((end - offset) / bin)
        if last > first:
            peaks[i] = float(np.max(track[first:last]))
    return peaks


@dataclasses.dataclass
class PayloadSummary:
    row: PayloadRow
    offsets: int
    predicted: float
    peaksum: float


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.6g}"


def predict_payloads(predictor: Predictor, rows: Iterator[PayloadRow], write: Callable[[str], None], *,
                     head: Optional[str], track: int, stride: int, sample: float, seed: int,
                     reverse_complement: bool = False, batch: int = 4) -> List[PayloadSummary]:
    """Write one line per (payload, offset) through ``write``; return per-payload means.

    ``predictor`` outputs ``activity`` and/or ``head`` (with the one column ``track``
    selected); a missing one is written as ``nan``.
    """
    length = predictor.input_length
    has_activity = ACTIVITY in predictor.outputs
    has_head = head is not None and head in predictor.outputs
    write("\t".join(OUTPUT_COLUMNS) + "\n")
    summaries: List[PayloadSummary] = []
    for row in rows:
        offsets = window_offsets(row.codes.size, length, stride, sample, seed, row.name)
        predicted: List[float] = []
        peaksums: List[float] = []
        for start in range(0, offsets.size, batch):
            chunk = offsets[start:start + batch]
            windows = genome.window_views(row.codes, chunk, length)
            outputs = predict_codes(predictor, windows, reverse_complement)
            for i, offset in enumerate(chunk.tolist()):
                value = float(outputs[ACTIVITY][i]) if has_activity else float("nan")
                if has_head:
                    peaks = site_peaks(outputs[head][i, :, 0], offset, row.sites)
                    peaksum = float(peaks.sum())
                    peak = ";".join(f"{site.name}={p:.6g}" for site, p in zip(row.sites, peaks))
                else:
                    peaksum, peak = float("nan"), ""
                predicted.append(value)
                peaksums.append(peaksum)
                write("\t".join([row.index, row.name, row.group, row.fold, str(offset), f"{row.activity:g}",
                                 _fmt(value), _fmt(peaksum), peak]) + "\n")
        summaries.append(PayloadSummary(row, int(offsets.size), float(np.mean(predicted)), float(np.mean(peaksums))))
        row.codes = np.empty(0, np.uint8)  # the summary keeps the row; drop its sequence
    return summaries


def summary_lines(summaries: Sequence[PayloadSummary]) -> List[str]:
    """The ``OUT.summary.tsv`` table (header + one line per payload)."""
    lines = ["\t".join(SUMMARY_COLUMNS) + "\n"]
    for s in summaries:
        lines.append("\t".join([s.row.index, s.row.name, s.row.group, s.row.fold, f"{s.row.activity:g}",
                                str(s.offsets), _fmt(s.predicted), _fmt(s.peaksum)]) + "\n")
    return lines


def correlations(summaries: Sequence[PayloadSummary]) -> List[Dict[str, object]]:
    """Pearson r / Spearman rho of per-payload means vs activity, for all payloads and per fold."""
    groups: Dict[str, List[PayloadSummary]] = {"all": list(summaries)}
    for s in summaries:
        for fold in s.row.fold.split(","):
            groups.setdefault(fold, []).append(s)
    results = []
    for fold, members in groups.items():
        activity = np.array([s.row.activity for s in members])
        for measure in ("predicted", "peaksum"):
            values = np.array([getattr(s, measure) for s in members])
            ok = np.isfinite(values)
            if not ok.any():
                continue
            results.append(dict(fold=fold, measure=measure, n=int(ok.sum()),
                                pearson_r=pearson_r(values[ok], activity[ok]),
                                spearman_rho=spearman_rho(values[ok], activity[ok])))
    return results
