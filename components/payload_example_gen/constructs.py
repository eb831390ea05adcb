"""Payload constructs: read the inputs, validate them, and plan one construct per payload.

Everything here is plain Python (no TFX, no Beam) and runs once, in the driver process, before
any output is written: every user-input problem is raised here as one
:class:`components.errors.InputError` naming the file, line or record, so a failed run never
leaves partial data behind. The Beam stage (:mod:`.transform`) only re-reads payload
sequences and builds the records the plan describes.

Coordinates
-----------
* ``context`` is a samtools-style region (``chr3:34732778-34772706``, 1-based inclusive),
  parsed by :func:`components.genome.parse_region` into a 0-based half-open ``[cs, ce)``.
  The payload replaces exactly that interval.
* Payload and annotation coordinates are 0-based half-open. The annotation BED follows the
  original scripts: column 1 is the payload name (FASTA spelling, ``_`` for ``~``), columns
  2-3 the site inside the payload, column 4 the site name.
* A construct has ``L = construct_length`` bp. For a payload of ``P <= L`` bp,
  ``pad = L - P``, ``left = pad // 2`` (the odd base goes right, as in the original) and
  ``construct = reference[cs - left, cs) + payload + reference[ce, ce + pad - left)``; the
  payload starts at construct position ``left``. For ``P > L`` the payload is centre-trimmed:
  ``trim = (P - L) // 2`` and ``construct = payload[trim, trim + L)``.
  In both cases construct coordinate = payload coordinate + ``shift``, with
  ``shift = left`` or ``-trim``; annotations not entirely inside ``[0, L)`` after the shift
  are dropped with a warning naming them.
* Flanks are lower-cased (soft-masked, as the original marked them) in the table output; the
  encoder is case-insensitive and the sequence is upper-cased before encoding anyway, so
  lower case never becomes N.

Splits
------
``payload`` mode: a payload's split is ``sha256(f"{seed}\\t{name}")`` mod the total fold
weight, mapped onto the cumulative fold ranges (the same bucket arithmetic as TFX's
``hash_buckets``). It depends on nothing but the payload's own name and the seed, so adding
payloads never moves existing ones; group stratification therefore holds in expectation (per
group counts are logged), not exactly. ``offsets`` mode: every payload is written to every
split; evaluation differs only by using fixed, evenly spaced windows (``training.eval_offsets``
of them, chosen by the trainer) instead of random shifts. That reproduces
the original protocol and is leaky: the model is evaluated on shifted copies of sequences it
trained on.
"""
from __future__ import annotations

import bisect
import collections
import csv
import dataclasses
import hashlib
import itertools
import logging
import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from components import genome
from components.genome import format_list
from components.errors import InputError
from components.payload_example_gen import params

logger = logging.getLogger(__name__)

NAME_COLUMN = "MenDel.Name"
GROUP_COLUMNS = ("groups", "group")
REQUIRED_VALUE_COLUMNS = ("foldchange", "activity")
# Cells treated as missing; the original skipped rows whose activity or foldchange was "NA".
MISSING_VALUES = frozenset({"NA", "NaN", "nan", ""})


def fasta_key(name: str) -> str:
    """Payload FASTA spelling of a table name: the FASTA uses ``_`` where the table has ``~``."""
    return name.replace("~", "_")


# --------------------------------------------------------------------------- activity table


@dataclasses.dataclass(frozen=True)
class ActivityEntry:
    """One payload of the activity table after NA filtering and replicate merging."""

    name: str  # as written in the table (may contain '~')
    group: str
    activity: float  # mean of the replicate activities
    replicates: int
    where: str  # "file:line" of the first replicate, for messages


def read_activity_tables(paths: Sequence[str]) -> List[ActivityEntry]:
    """Read one or more activity TSVs and merge replicate rows per payload.

    Required columns: ``MenDel.Name``, ``groups`` (or ``group``), ``foldchange``,
    ``activity``. Rows with ``NA`` (also ``NaN`` or empty) activity or foldchange are skipped.
    Payloads keep the order of their first row; files are read in the given order.

    Raises:
      InputError: a file lacks a required column, a value is not a number, or no row is left.
    """
    merged: Dict[str, Tuple[str, List[float], str]] = {}
    skipped = 0
    for path in paths:
        with genome.open_text(path) as handle:
            reader = csv.reader(handle, delimiter="\t")
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: activity table is empty (no header line)")
            header = genome.tab_header("\t".join(header), (NAME_COLUMN, *REQUIRED_VALUE_COLUMNS), f"{path}:1")
            group_column = next((c for c in GROUP_COLUMNS if c in header), None)
            missing = [c for c in (NAME_COLUMN, *REQUIRED_VALUE_COLUMNS) if c not in header]
            if group_column is None:
                missing.append("groups (or group)")
            if missing:
                raise InputError(
                    f"{path}:1: activity table lacks column(s) {', '.join(missing)}; found {format_list(header, 10)}. "
                    f"Required: {NAME_COLUMN}, groups (or group), foldchange, activity (tab-separated)"
                )
            index = {column: header.index(column) for column in (NAME_COLUMN, group_column, *REQUIRED_VALUE_COLUMNS)}
            for line_number, row in enumerate(reader, start=2):
                if not row or not any(cell.strip() for cell in row):
                    continue
                where = f"{path}:{line_number}"
                if len(row) < len(header):
                    raise InputError(f"{where}: expected {len(header)} tab-separated fields, got {len(row)}")
                name = row[index[NAME_COLUMN]].strip()
                if not name:
                    raise InputError(f"{where}: empty {NAME_COLUMN}")
                values = {}
                for column in REQUIRED_VALUE_COLUMNS:
                    text = row[index[column]].strip()
                    if text in MISSING_VALUES:
                        values = None
                        break
                    try:
                        values[column] = float(text)
                    except ValueError:
                        raise InputError(f"{where}: {column} of {name!r} is not a number: {text!r}") from None
                    if not math.isfinite(values[column]):
                        raise InputError(f"{where}: {column} of {name!r} is not finite: {text!r}")
                if values is None:
                    skipped += 1
                    continue
                group = row[index[group_column]].strip()
                if name in merged:
                    first_group, activities, first_where = merged[name]
                    if group != first_group:
                        logger.warning("%s: payload %r has group %r but %r at %s; keeping the first",
                                       where, name, group, first_group, first_where)
                    activities.append(values["activity"])
                else:
                    merged[name] = (group, [values["activity"]], where)
    if skipped:
        logger.info("activity table: skipped %d row(s) with NA activity or foldchange", skipped)
    if not merged:
        raise InputError(
            f"{format_list(list(paths))}: no payload left after skipping {skipped} row(s) with NA activity/foldchange"
        )
    return [
        ActivityEntry(name, group, float(np.mean(activities)), len(activities), where)
        for name, (group, activities, where) in merged.items()
    ]


# --------------------------------------------------------------------------- payload FASTA


@dataclasses.dataclass(frozen=True)
class PayloadInfo:
    fasta_name: str
    length: int


def scan_payloads(path: str, wanted: Iterable[str]) -> Dict[str, PayloadInfo]:
    """Stream the payload FASTA once and describe the payloads named in ``wanted``.

    ``wanted`` holds FASTA keys (:func:`fasta_key`); FASTA names are keyed the same way so a
    FASTA written with ``~`` also matches. Only lengths are kept, never sequences, so memory
    does not grow with the FASTA size.

    Raises:
      InputError: a name repeats with a different sequence, a wanted payload has characters
        other than ACGTN, or wanted payloads are absent (the first few are listed).
    """
    wanted = set(wanted)
    digests: Dict[str, Tuple[bytes, int]] = {}
    found: Dict[str, PayloadInfo] = {}
    for name, sequence, line in genome.iter_fasta(path):
        key = fasta_key(name)
        digest = hashlib.sha1(sequence.upper().encode("ascii", "replace")).digest()
        if key in digests:
            if digests[key][0] != digest:
                raise InputError(
                    f"{path}:{line}: payload {name!r} appears again (first at line {digests[key][1]}) "
                    "with a different sequence; payload names must be unique"
                )
            continue
        digests[key] = (digest, line)
        if key not in wanted:
            continue
        if not genome.is_plain_dna(sequence):
            position = next(i for i, char in enumerate(sequence) if char not in "ACGTNacgtn")
            line_number, column = genome.fasta_line_of(path, line, position)
            raise InputError(
                f"{path}:{line_number}: payload {name!r} has {sequence[position]!r} at position {position + 1} "
                f"(column {column}); only A, C, G, T, N are allowed"
            )
        found[key] = PayloadInfo(name, len(sequence))
    absent = sorted(wanted - set(found))
    if absent:
        raise InputError(
            f"{path}: {len(absent)} payload(s) of the activity table are not in the payload FASTA "
            f"(names with '~' are looked up with '_'): {format_list(absent)}"
        )
    return found


# --------------------------------------------------------------------------- annotations


@dataclasses.dataclass(frozen=True)
class Annotation:
    """A site: 0-based half-open ``[start, end)`` in payload or construct coordinates."""

    name: str
    start: int
    end: int
    strand: str = "."  # BED column 6 when the file has it


def read_annotations(path: Optional[str], known: Dict[str, int]) -> Dict[str, List[Annotation]]:
    """Read the annotation BED into ``{payload fasta key: [Annotation]}`` (payload coordinates).

    ``known`` maps payload FASTA keys to payload lengths. Lines naming an unknown payload,
    with ``start >= end`` or reaching past the payload's end are skipped with one warning per
    kind that lists them (warn-and-skip, as the original did). Malformed lines raise InputError.
    """
    sites: Dict[str, List[Annotation]] = collections.defaultdict(list)
    if not path:
        return sites
    skipped: Dict[str, List[str]] = collections.defaultdict(list)
    for record in genome.read_bed(path, require_name=True, empty_intervals=skipped["start >= end or negative"]):
        where = f"{path}:{record.line}"
        key = fasta_key(record.chrom)
        if key not in known:
            skipped["unknown payload"].append(f"{where} {record.chrom}")
        elif record.end > known[key]:
            skipped["past the payload end"].append(f"{where} {record.name} (end {record.end} > {known[key]} bp)")
        else:
            sites[key].append(Annotation(record.name, record.start, record.end, record.strand))
    for reason, lines in skipped.items():
        if lines:
            logger.warning("%s: skipped %d annotation line(s), %s: %s", path, len(lines), reason, format_list(lines))
    return sites


# --------------------------------------------------------------------------- construct layout


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a payload of a given length goes in a construct (see module docstring)."""

    left: int  # reference bases before the payload
    right: int  # reference bases after the payload
    trim: int  # payload bases cut from the left (long payloads)
    kept: int  # payload bases kept

    @property
    def shift(self) -> int:
        """Construct coordinate minus payload coordinate."""
        return self.left - self.trim


def layout(payload_length: int, construct_length: int) -> Layout:
    """Centre a payload in a construct: pad from the reference, or centre-trim when too long."""
    if payload_length <= construct_length:
        pad = construct_length - payload_length
        return Layout(left=pad // 2, right=pad - pad // 2, trim=0, kept=payload_length)
    trim = (payload_length - construct_length) // 2
    return Layout(left=0, right=0, trim=trim, kept=construct_length)


def build_construct(payload: str, left_flank: str, right_flank: str, construct_length: int) -> str:
    """Splice ``payload`` into the locus: lower-case flanks + upper-case payload, ``L`` bp.

    ``left_flank`` ends at the context start and ``right_flank`` starts at the context end;
    each must be at least as long as the padding the payload needs on that side.
    """
    place = layout(len(payload), construct_length)
    if place.left > len(left_flank) or place.right > len(right_flank):
        raise ValueError("flanks shorter than the padding required")  # guarded by plan_dataset
    left = left_flank[len(left_flank) - place.left:] if place.left else ""
    body = payload[place.trim: place.trim + place.kept].upper()
    return left.lower() + body + right_flank[: place.right].lower()


def locus_flanks(reference_fasta: Optional[str], context: Optional[str], payload_lengths: Dict[str, int],
                 construct_length: int) -> Tuple[str, str]:
    """Lower-case reference flanks of the ``context`` locus for splicing these payloads.

    ``left_flank`` ends at the context start and ``right_flank`` starts at the context end;
    each is as long as the largest padding any payload of ``payload_lengths`` (``{name: bp}``)
    needs for a ``construct_length`` bp construct (:func:`layout`). Without a reference and
    context the flanks are ``n`` (unknown bases, all-zero one-hot rows).

    Raises:
      InputError: the context is not in the reference, or the flanks run off its chromosome.
    """
    places = [layout(length, construct_length) for length in payload_lengths.values()]
    need_left = max((place.left for place in places), default=0)
    need_right = max((place.right for place in places), default=0)
    if not reference_fasta or not context:
        return "n" * need_left, "n" * need_right
    region = genome.parse_region(context)
    with genome.ReferenceGenome(reference_fasta) as reference:
        reference.check_interval(region.chrom, region.start, region.end, what="context")
        size = reference.chrom_sizes[region.chrom]
        if region.start - need_left < 0 or region.end + need_right > size:
            shortest = min(payload_lengths, key=lambda name: payload_lengths[name])
            raise InputError(
                f"context {region}: flanks run off chromosome {region.chrom} (length {size}) in {reference_fasta}: "
                f"payload {shortest!r} ({payload_lengths[shortest]} bp) needs {need_left} bp left and {need_right} bp "
                f"right of the context for a {construct_length} bp construct; use a shorter --length"
            )
        left_flank = reference.fetch(region.chrom, region.start - need_left, region.start).lower() if need_left else ""
        right_flank = reference.fetch(region.chrom, region.end, region.end + need_right).lower() if need_right else ""
    return left_flank, right_flank


def shift_annotations(sites: Sequence[Annotation], place: Layout, construct_length: int) -> Tuple[List[Annotation], List[Annotation]]:
    """``(kept, dropped)``: sites moved to construct coordinates; dropped ones fall outside."""
    kept, dropped = [], []
    for site in sites:
        moved = Annotation(site.name, site.start + place.shift, site.end + place.shift, site.strand)
        (kept if moved.start >= 0 and moved.end <= construct_length else dropped).append(moved)
    return kept, dropped


# --------------------------------------------------------------------------- splits and offsets


def _hash_int(*parts: object) -> int:
    text = "\t".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def assign_split(name: str, seed: int, folds: Sequence[Tuple[str, int]]) -> str:
    """Split of one payload in ``payload`` mode: a function of ``(seed, name)`` only."""
    # Python ints throughout: a 64-bit hash modulo a NumPy integer would go through float64 and
    # lose the low bits (every hash >= 2**63 fell into the first fold).
    bounds = list(itertools.accumulate(int(weight) for _, weight in folds))
    bucket = _hash_int(seed, name) % bounds[-1]
    return folds[bisect.bisect_right(bounds, bucket)][0]


# --------------------------------------------------------------------------- plan


@dataclasses.dataclass(frozen=True)
class PayloadPlan:
    """Everything needed to build one payload's record, except its sequence."""

    index: int  # position in the activity table (first row), 0-based
    name: str
    fasta_key: str
    group: str
    activity: float
    length: int  # payload length in bp
    splits: Tuple[str, ...]
    annotations: Tuple[Annotation, ...]  # construct coordinates


@dataclasses.dataclass(frozen=True)
class DatasetPlan:
    """A validated dataset: payloads in table order plus the shared locus flanks.

    ``left_flank`` ends at the context start, ``right_flank`` starts at the context end; both
    are lower case and exactly as long as the largest padding any payload needs.
    """

    payloads: Tuple[PayloadPlan, ...]
    payload_fasta: str
    left_flank: str
    right_flank: str
    construct_length: int
    window_length: int
    seed: int
    split_mode: str
    split_names: Tuple[str, ...]
    records_per_shard: int

    @property
    def num_shards(self) -> int:
        return max(1, math.ceil(len(self.payloads) / self.records_per_shard))

    def shard(self, index: int) -> Tuple[PayloadPlan, ...]:
        """Payloads of output shard ``index``: a contiguous run in table order."""
        return self.payloads[index * self.records_per_shard: (index + 1) * self.records_per_shard]

    def split_counts(self) -> Dict[str, int]:
        counts = collections.Counter(split for payload in self.payloads for split in payload.splits)
        return {name: counts.get(name, 0) for name in self.split_names}


def plan_dataset(
    activity_tables: Sequence[str],
    payload_fasta: str,
    reference_fasta: str,
    context: str,
    annotation_bed: Optional[str] = None,
    construct_length: int = params.DEFAULT_CONSTRUCT_LENGTH,
    window_length: int = params.DEFAULT_WINDOW_LENGTH,
    seed: int = params.DEFAULT_SEED,
    folds=None,
    split_mode: str = params.DEFAULT_SPLIT_MODE,
    records_per_shard: int = params.DEFAULT_RECORDS_PER_SHARD,
) -> DatasetPlan:
    """Read and validate every input and return the dataset plan (no output is written).

    Raises:
      InputError: any user-input problem listed in the module docstring.
    """
    folds = params.normalize_folds(folds)
    if split_mode not in params.SPLIT_MODES:
        raise InputError(f"split mode {split_mode!r}: expected one of {', '.join(params.SPLIT_MODES)}")
    if construct_length <= 0 or window_length <= 0:
        raise InputError(f"construct length {construct_length} and window length {window_length} must be positive")
    if window_length > construct_length:
        raise InputError(f"window length {window_length} exceeds the construct length {construct_length}")
    if records_per_shard <= 0:
        raise InputError("records_per_shard must be positive")
    if not activity_tables:
        raise InputError("no activity table given")

    entries = read_activity_tables(activity_tables)
    keys = {}
    for entry in entries:
        key = fasta_key(entry.name)
        if key in keys and keys[key] != entry.name:
            raise InputError(f"{entry.where}: payloads {keys[key]!r} and {entry.name!r} both map to FASTA name {key!r}")
        keys[key] = entry.name
    infos = scan_payloads(payload_fasta, keys)
    sites = read_annotations(annotation_bed, {key: info.length for key, info in infos.items()})

    places = {key: layout(info.length, construct_length) for key, info in infos.items()}
    left_flank, right_flank = locus_flanks(reference_fasta, context, {info.fasta_name: info.length for info in infos.values()},
                                           construct_length)

    split_names = tuple(name for name, _ in folds)
    payloads = []
    for index, entry in enumerate(entries):
        key = fasta_key(entry.name)
        place = places[key]
        kept, dropped = shift_annotations(sites.get(key, ()), place, construct_length)
        if place.trim:
            logger.warning(
                "payload %r (%d bp) is longer than the %d bp construct: centre-trimmed by %d bp left, %d bp right%s",
                entry.name, infos[key].length, construct_length, place.trim, infos[key].length - place.kept - place.trim,
                f"; annotations dropped: {format_list([site.name for site in dropped])}" if dropped else "",
            )
        splits = split_names if split_mode == "offsets" else (assign_split(entry.name, seed, folds),)
        payloads.append(PayloadPlan(
            index=index, name=entry.name, fasta_key=key, group=entry.group, activity=entry.activity,
            length=infos[key].length, splits=splits,
            annotations=tuple(sorted(kept, key=lambda site: (site.start, site.end, site.name))),
        ))

    plan = DatasetPlan(
        payloads=tuple(payloads), payload_fasta=payload_fasta, left_flank=left_flank, right_flank=right_flank,
        construct_length=construct_length, window_length=window_length,
        seed=seed, split_mode=split_mode, split_names=split_names,
        records_per_shard=records_per_shard,
    )
    counts = plan.split_counts()
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        raise InputError(
            f"split(s) {', '.join(empty)} would be empty: folds {params.folds_to_dict(folds)} with seed {seed} put "
            f"{len(payloads)} payload(s) as {counts}; add payloads, change the ratios or the seed, or use --split-mode offsets"
        )
    _log_split_summary(plan)
    return plan


def _log_split_summary(plan: DatasetPlan) -> None:
    """Per-group split counts: hash splits are stratified only in expectation, so show them."""
    table: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for payload in plan.payloads:
        table[payload.group].update(payload.splits)
    logger.info("payloads per split: %s (mode %s)", plan.split_counts(), plan.split_mode)
    for group in sorted(table):
        logger.info("  group %s: %s", group, dict(sorted(table[group].items())))
