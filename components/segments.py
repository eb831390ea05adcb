"""The construct language of ``predict-payload``: payloads composed of genomic segments.

Table (TSV, ``#`` lines and an optional ``name<TAB>segments`` header skipped)::

    name<TAB>segment,segment,...

A segment is ``chrom:start-end`` (1-based, inclusive, as ``--context``; commas in numbers are
not allowed because ``,`` separates segments) followed by options, each introduced by ``:``:

* ``:fFASTA`` -- take the segment from FASTA instead of the reference (a relative path is
  resolved against the table's directory);
* ``:nLABEL`` -- label the segment; the report gives the maximum of each track over it;
* ``:d`` -- deleted: the segment keeps its length but is filled with ``N``.

The payload is the concatenation of its segments (upper case); segment ``k`` occupies payload
coordinates ``[sum of the previous lengths, + its length)`` (0-based half-open).
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, List, Optional, Tuple

from components import genome
from components.genome import InputError

_COORDINATES = re.compile(r"^(?P<start>\d+)-(?P<end>\d+)$")
HEADER = ("name", "segments")


@dataclasses.dataclass(frozen=True)
class Segment:
    """One parsed segment: 0-based half-open ``[start, end)`` on ``chrom`` of ``fasta`` (None = reference)."""

    chrom: str
    start: int
    end: int
    fasta: Optional[str] = None
    label: Optional[str] = None
    deleted: bool = False
    text: str = ""

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclasses.dataclass(frozen=True)
class ComposedPayload:
    """A payload built from segments; ``spans`` are each segment's payload coordinates."""

    name: str
    sequence: str
    segments: Tuple[Segment, ...]
    spans: Tuple[Tuple[int, int], ...]
    where: str  # "table:line"

    def labelled(self) -> List[Tuple[str, int, int]]:
        """``(label, start, end)`` of the labelled segments, in order."""
        return [(s.label, a, b) for s, (a, b) in zip(self.segments, self.spans) if s.label is not None]


def parse_segment(text: str, where: str, base_dir: str) -> Segment:
    """Parse one segment (module docstring); ``where`` (``file:line: segment k``) prefixes errors."""
    parts = text.strip().split(":")
    if len(parts) < 2 or not parts[0]:
        raise InputError(f"{where} {text!r}: expected chrom:start-end[:fFASTA][:nLABEL][:d]")
    match = _COORDINATES.match(parts[1])
    if not match:
        raise InputError(f"{where} {text!r}: coordinates {parts[1]!r} are not start-end (1-based, inclusive)")
    start, end = int(match["start"]) - 1, int(match["end"])
    if start < 0 or end <= start:
        raise InputError(f"{where} {text!r}: need 1 <= start <= end")
    fasta = label = None
    deleted = False
    options = parts[2:]
    index = 0
    while index < len(options):
        option = options[index]
        if option.startswith("f") and len(option) > 1:
            value = option[1:]
            # A URL keeps its ':' (gs://...): re-join it with the next piece.
            if index + 1 < len(options) and options[index + 1].startswith("//"):
                value = f"{value}:{options[index + 1]}"
                index += 1
            fasta = value if "://" in value or os.path.isabs(value) else os.path.join(base_dir, value)
        elif option.startswith("n") and len(option) > 1:
            label = option[1:]
        elif option == "d":
            deleted = True
        else:
            raise InputError(f"{where} {text!r}: unknown option {option!r}; options are :fFASTA, :nLABEL and :d")
        index += 1
    return Segment(parts[0], start, end, fasta, label, deleted, text.strip())


def read_segment_table(path: str) -> List[Tuple[str, List[Segment], str]]:
    """``[(name, segments, "path:line")]`` of a segment table; raises InputError naming the line."""
    base_dir = os.path.dirname(os.path.abspath(path)) if "://" not in path else os.path.dirname(path)
    rows: List[Tuple[str, List[Segment], str]] = []
    seen: Dict[str, str] = {}
    with genome.open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.rstrip("\n\r")
            if not text.strip() or text.startswith("#"):
                continue
            fields = text.split("\t")
            if number == 1 and tuple(f.strip().lower() for f in fields) == HEADER:
                continue
            where = f"{path}:{number}"
            if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
                raise InputError(f"{where}: expected 'name<TAB>segment,segment,...', got {text!r}")
            name = fields[0].strip()
            if name in seen:
                raise InputError(f"{where}: payload {name!r} repeats (first at {seen[name]})")
            seen[name] = where
            segments = [parse_segment(item, f"{where}: segment {k}", base_dir)
                        for k, item in enumerate(fields[1].split(","), start=1)]
            rows.append((name, segments, where))
    if not rows:
        raise InputError(f"{path}: no payloads")
    return rows


def compose_payloads(path: str, reference_fasta: Optional[str]) -> List[ComposedPayload]:
    """Read the table and fetch every segment (reference or ``:f`` FASTA); deleted ones become N.

    Raises:
      InputError naming the table line: unknown chromosome, a segment off the chromosome end,
      an unreadable ``:f`` FASTA, or a reference segment without ``--reference``.
    """
    rows = read_segment_table(path)
    opened: Dict[str, genome.ReferenceGenome] = {}
    payloads: List[ComposedPayload] = []
    try:
        for name, segments, where in rows:
            pieces: List[str] = []
            spans: List[Tuple[int, int]] = []
            position = 0
            for k, segment in enumerate(segments, start=1):
                label = f"{where}: segment {k} {segment.text!r}"
                source = segment.fasta or reference_fasta
                if source is None:
                    raise InputError(f"{label}: needs --reference (or :fFASTA)")
                if source not in opened:
                    try:
                        opened[source] = genome.ReferenceGenome(source)
                    except InputError as error:
                        raise InputError(f"{label}: cannot read FASTA {source}: {error}") from None
                fasta = opened[source]
                try:
                    fasta.check_interval(segment.chrom, segment.start, segment.end, what="segment")
                except InputError as error:
                    raise InputError(f"{label}: {error}") from None
                pieces.append("N" * segment.length if segment.deleted
                              else fasta.fetch(segment.chrom, segment.start, segment.end).upper())
                spans.append((position, position + segment.length))
                position += segment.length
            payloads.append(ComposedPayload(name, "".join(pieces), tuple(segments), tuple(spans), where))
    finally:
        for fasta in opened.values():
            fasta.close()
    return payloads
