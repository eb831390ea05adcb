"""Candidate payloads: seeded, de-duplicated edits of the annotated elements of parent payloads.

Plain NumPy; shared by ``enformer-tfx design`` and the Designer pipeline component.

Elements
--------
The annotation BED (payload coordinates, column 4 = site label, column 6 = strand if present)
marks sites in each parent. Overlapping or touching sites are merged into one *element*, so
every element is a disjoint ``[start, end)`` block of the parent; elements are numbered 1..n
from the payload start. The bases between elements (spacers) are never edited.

Edits (``Edit.label``: 1-based element numbers)
-----------------------------------------------
* ``delete`` (``del3``): the element's bases are removed;
* ``invert`` (``inv3``): the element is reverse-complemented in place;
* ``duplicate`` (``dup3``): a tandem copy follows the element;
* ``swap`` (``swap2-5``): two elements exchange places (spacers stay);
* ``scramble`` (``scr3``): dinucleotide shuffle of the element (length, base and dinucleotide
  counts kept; the shuffle is seeded by ``(seed, parent, element)``, so the same edit gives the
  same bases in every candidate);
* ``mutate`` (``mut3@127T``): one point mutation inside element 3 (payload position 127 becomes
  T), drawn from the parent's best in-silico-mutagenesis mutations (:mod:`.mutations`; the
  caller passes them, as ranking them needs the model).

A candidate carries 1..``max_edits`` edits touching disjoint elements, so the edits commute
and a candidate is identified by its parent and the sorted set of edits. Its name is
``<parent>.<label>.<label>`` (the parent's table name, ``~`` kept). Sites move with their
element: an inverted element's sites are mirrored inside it (strand flipped), a duplicated
element's sites appear in both copies, a deleted element's sites are gone.

Sampling: ``np.random.default_rng(seed)`` draws a parent, a number of edits and the edits;
candidates whose edit set or whose sequence was already produced (or equals an input payload)
are skipped, until ``count`` candidates exist or the space is exhausted.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np

from components import dinucleotides, genome
from components.genome import format_list
from components.errors import InputError
from components.payload_example_gen.constructs import Annotation, fasta_key, read_annotations

LOG = logging.getLogger(__name__)

EDIT_KINDS = ("delete", "invert", "duplicate", "swap", "scramble", "mutate")
# What --edits means when not given: mutate needs an ISM pass per parent, so it is opt-in.
DEFAULT_EDIT_KINDS = EDIT_KINDS[:5]
_LABELS = {"delete": "del", "invert": "inv", "duplicate": "dup", "swap": "swap", "scramble": "scr", "mutate": "mut"}
# Point mutations per parent: (payload position, new base), best first (see .mutations).
Mutations = Mapping[str, Sequence[Tuple[int, str]]]
_FLIP_STRAND = {"+": "-", "-": "+"}


@dataclasses.dataclass(frozen=True)
class Element:
    """A disjoint block of a parent payload holding one or more annotated sites.

    ``sites`` are in payload coordinates (inside ``[start, end)``).
    """

    number: int  # 1-based, in payload order
    start: int
    end: int
    sites: Tuple[Annotation, ...]


@dataclasses.dataclass(frozen=True)
class Parent:
    """A payload to edit: table name, FASTA name, sequence (upper case) and its elements."""

    name: str
    fasta_name: str
    sequence: str
    elements: Tuple[Element, ...]


@dataclasses.dataclass(frozen=True, order=True)
class Edit:
    """One edit: ``kind`` in :data:`EDIT_KINDS` on element numbers ``elements`` (2 for swap)."""

    kind: str
    elements: Tuple[int, ...]
    detail: str = ""  # mutate: "<payload position><new base>"

    @property
    def label(self) -> str:
        text = _LABELS[self.kind] + "-".join(str(number) for number in self.elements)
        return f"{text}@{self.detail}" if self.detail else text


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A designed payload: ``sequence`` (upper case) and its ``sites`` in its own coordinates."""

    name: str
    parent: str
    edits: Tuple[Edit, ...]
    sequence: str
    sites: Tuple[Annotation, ...]

    @property
    def edit_text(self) -> str:
        """``del3+inv5``: the edits as written in the output table."""
        return "+".join(edit.label for edit in self.edits)

    @property
    def edit_keys(self) -> Tuple[str, ...]:
        """Edits qualified by parent (``parent:del3``): what diverse acquisition counts as shared."""
        return tuple(f"{self.parent}:{edit.label}" for edit in self.edits)


# --------------------------------------------------------------------------- parents


def merge_sites(sites: Sequence[Annotation]) -> Tuple[Element, ...]:
    """Group overlapping or touching sites into disjoint elements numbered from 1."""
    blocks: List[List[Annotation]] = []
    for site in sorted(sites, key=lambda s: (s.start, s.end, s.name)):
        if blocks and site.start <= max(s.end for s in blocks[-1]):
            blocks[-1].append(site)
        else:
            blocks.append([site])
    return tuple(Element(number, min(s.start for s in block), max(s.end for s in block), tuple(block))
                 for number, block in enumerate(blocks, start=1))


def read_parents(payload_fasta: str, annotation_bed: str, names: Optional[Sequence[str]] = None) -> List[Parent]:
    """Parents from the payload FASTA and annotation BED.

    Args:
      names: table or FASTA names to use (``~`` and ``_`` spellings both match); None = every
        payload with at least one annotated site.
    Raises:
      InputError: a named parent is not in the FASTA, has no annotated site, or has characters
        other than ACGTN; no payload has any annotated site.
    """
    sequences: Dict[str, Tuple[str, str]] = {}
    for fasta_name, sequence, line in genome.iter_fasta(payload_fasta):
        if not genome.is_plain_dna(sequence):
            raise InputError(f"{payload_fasta}:{line}: payload {fasta_name!r} has characters other than A, C, G, T, N")
        sequences.setdefault(fasta_key(fasta_name), (fasta_name, sequence.upper()))
    sites = read_annotations(annotation_bed, {key: len(seq) for key, (_, seq) in sequences.items()})
    if names is None:
        wanted = [(key, sequences[key][0]) for key in sequences if sites.get(key)]
        without = len(sequences) - len(wanted)
        if not wanted:
            raise InputError(f"{annotation_bed}: no payload of {payload_fasta} has an annotated site to edit")
        if without:
            LOG.info("%d payload(s) without annotated sites are not used as parents", without)
    else:
        unknown = [name for name in names if fasta_key(name) not in sequences]
        if unknown:
            raise InputError(f"--parents: {len(unknown)} name(s) not in {payload_fasta}: {format_list(unknown)}")
        bare = [name for name in names if not sites.get(fasta_key(name))]
        if bare:
            raise InputError(f"--parents: {format_list(bare)} ha{'s' if len(bare) == 1 else 've'} no annotated "
                             f"element in {annotation_bed} (nothing to edit)")
        wanted = [(fasta_key(name), name) for name in dict.fromkeys(names)]
    return [Parent(name, sequences[key][0], sequences[key][1], merge_sites(sites[key])) for key, name in wanted]


# --------------------------------------------------------------------------- edits


def parse_edits(text: str, supported: Sequence[str] = EDIT_KINDS) -> Tuple[str, ...]:
    """``'delete,swap'`` -> ``('delete', 'swap')``; unknown or unsupported kinds raise InputError."""
    kinds = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not kinds:
        raise InputError(f"--edits {text!r}: name at least one of {', '.join(supported)}")
    unknown = [kind for kind in kinds if kind not in supported]
    if unknown:
        raise InputError(f"--edits: unknown or unsupported edit(s) {', '.join(unknown)}; choose from {', '.join(supported)}")
    return kinds


def dinucleotide_shuffle(sequence: str, rng: np.random.Generator) -> str:
    """Random string with the same first base and dinucleotide counts as ``sequence`` (case kept).

    :func:`components.dinucleotides.dinucleotide_shuffle` over the string's characters.
    """
    symbols = np.frombuffer(sequence.encode("utf-32-le"), dtype=np.uint32)
    return dinucleotides.dinucleotide_shuffle(symbols, rng).tobytes().decode("utf-32-le")


def _scramble_rng(seed: int, parent: str, element: int) -> np.random.Generator:
    digest = hashlib.sha256(f"scramble\t{seed}\t{parent}\t{element}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _scrambled(bases: str, rng: np.random.Generator, tries: int = 20) -> str:
    """The first of a few seeded shuffles that differs from ``bases`` (short blocks may have few)."""
    shuffled = bases
    for _ in range(tries):
        shuffled = dinucleotide_shuffle(bases, rng)
        if shuffled != bases:
            break
    return shuffled


def _piece(parent: Parent, element: Element) -> Tuple[str, List[Annotation]]:
    """Element bases and its sites relative to the element start."""
    return (parent.sequence[element.start:element.end],
            [dataclasses.replace(s, start=s.start - element.start, end=s.end - element.start) for s in element.sites])


def apply_edits(parent: Parent, edits: Sequence[Edit], seed: int = 0) -> Tuple[str, Tuple[Annotation, ...]]:
    """Edited sequence and its sites (new payload coordinates, sorted).

    Raises ValueError for edits on unknown or shared elements (callers build valid edits).
    """
    touched = [number for edit in edits for number in edit.elements]
    if len(set(touched)) != len(touched) or not all(1 <= n <= len(parent.elements) for n in touched):
        raise ValueError(f"edits {[e.label for e in edits]} must touch distinct elements of 1..{len(parent.elements)}")
    # Which element's bases sit in each element slot (swaps), then what happens to them there.
    source = {element.number: element.number for element in parent.elements}
    change: Dict[int, Edit] = {}
    for edit in edits:
        if edit.kind == "swap":
            a, b = edit.elements
            source[a], source[b] = b, a
        else:
            change[edit.elements[0]] = edit
    pieces: List[str] = []
    sites: List[Annotation] = []
    offset = 0
    cursor = 0

    def emit(bases: str, relative: Iterable[Annotation]) -> None:
        nonlocal offset
        sites.extend(dataclasses.replace(s, start=s.start + offset, end=s.end + offset) for s in relative)
        pieces.append(bases)
        offset += len(bases)

    for element in parent.elements:
        emit(parent.sequence[cursor:element.start], ())
        cursor = element.end
        moved = parent.elements[source[element.number] - 1]
        bases, relative = _piece(parent, moved)
        edit = change.get(moved.number)
        kind = edit.kind if edit else None
        if kind == "delete":
            continue
        if kind == "invert":
            size = len(bases)
            bases = genome.decode_codes(genome.reverse_complement_codes(genome.encode_sequence(bases)))
            relative = [dataclasses.replace(s, start=size - s.end, end=size - s.start,
                                            strand=_FLIP_STRAND.get(s.strand, s.strand)) for s in relative]
        elif kind == "scramble":
            bases = _scrambled(bases, _scramble_rng(seed, parent.name, moved.number))
        elif kind == "mutate":
            position, base = int(edit.detail[:-1]) - moved.start, edit.detail[-1]
            if not 0 <= position < len(bases):
                raise ValueError(f"mutation {edit.label} lies outside element {moved.number}")
            bases = bases[:position] + base + bases[position + 1:]
        emit(bases, relative)
        if kind == "duplicate":
            emit(bases, relative)
    emit(parent.sequence[cursor:], ())
    return "".join(pieces), tuple(sorted(sites, key=lambda s: (s.start, s.end, s.name)))


def element_of(parent: Parent, position: int) -> Optional[int]:
    """Number of the element holding payload ``position`` (None: a spacer)."""
    return next((e.number for e in parent.elements if e.start <= position < e.end), None)


def _mutable(parent: Parent, mutations: Mutations) -> Dict[int, List[str]]:
    """``{element: ["127T", ...]}``: the parent's mutations grouped by element, best first."""
    grouped: Dict[int, List[str]] = {}
    for position, base in mutations.get(parent.name, ()):
        number = element_of(parent, position)
        if number is not None:
            grouped.setdefault(number, []).append(f"{position}{base}")
    return grouped


def applicable_kinds(parent: Parent, kinds: Sequence[str], mutations: Mutations = None) -> List[str]:
    """Edit kinds that can touch ``parent`` (swap needs two elements, mutate ranked mutations)."""
    usable = []
    for kind in kinds:
        if kind == "mutate":
            if _mutable(parent, mutations or {}):
                usable.append(kind)
        elif len(parent.elements) >= (2 if kind == "swap" else 1):
            usable.append(kind)
    return usable


def check_applicable(parents: Sequence[Parent], kinds: Sequence[str], mutations: Mutations = None) -> None:
    """InputError unless every requested edit kind applies to at least one parent."""
    for kind in kinds:
        if not any(applicable_kinds(parent, [kind], mutations) for parent in parents):
            counts = format_list([f"{p.name} ({len(p.elements)})" for p in parents])
            if kind == "mutate":
                raise InputError("--edits mutate cannot apply: no parent has a point mutation inside an element "
                                 "that improves the objective")
            raise InputError(f"--edits {kind} cannot apply: it needs two annotated elements in a parent, and the "
                             f"parents have fewer (elements per parent: {counts})")


def _draw_edits(rng: np.random.Generator, parent: Parent, kinds: Sequence[str], max_edits: int,
                mutable: Mapping[int, List[str]]) -> Tuple[Edit, ...]:
    free = [element.number for element in parent.elements]
    edits: List[Edit] = []
    for _ in range(int(rng.integers(1, max_edits + 1))):
        usable = [kind for kind in kinds
                  if (any(n in mutable for n in free) if kind == "mutate" else len(free) >= (2 if kind == "swap" else 1))]
        if not usable:
            break
        kind = usable[int(rng.integers(len(usable)))]
        choices = [n for n in free if n in mutable] if kind == "mutate" else free
        picked = sorted(int(n) for n in rng.choice(choices, size=2 if kind == "swap" else 1, replace=False))
        free = [n for n in free if n not in picked]
        detail = ""
        if kind == "mutate":
            options = mutable[picked[0]]
            detail = options[int(rng.integers(len(options)))]
        edits.append(Edit(kind, tuple(picked), detail))
    return tuple(sorted(edits, key=lambda e: (e.elements, e.kind, e.detail)))


def generate_candidates(parents: Sequence[Parent], kinds: Sequence[str], count: int, max_edits: int = 2,
                        seed: int = 0, exclude_sequences: Iterable[str] = (),
                        mutations: Mutations = None) -> List[Candidate]:
    """Up to ``count`` distinct candidates, in a deterministic order for a given seed.

    Args:
      parents: payloads to edit (each with at least one element).
      kinds: edit kinds (:data:`EDIT_KINDS`), each applicable to some parent.
      count: candidates wanted (fewer when the edit space is smaller; logged).
      max_edits: edits per candidate, 1..max_edits.
      exclude_sequences: sequences never proposed (e.g. the payloads already assayed).
      mutations: for ``mutate``, each parent's ranked point mutations (:mod:`.mutations`).
    """
    if count < 1:
        raise InputError(f"--candidates must be >= 1, got {count}")
    if max_edits < 1:
        raise InputError(f"--max-edits must be >= 1, got {max_edits}")
    if not parents:
        raise InputError("no parent payload to edit")
    mutations = mutations or {}
    check_applicable(parents, kinds, mutations)
    usable = [(parent, applicable_kinds(parent, kinds, mutations), _mutable(parent, mutations)) for parent in parents]
    usable = [(parent, ks, mutable) for parent, ks, mutable in usable if ks]
    rng = np.random.default_rng(seed)
    seen_edits: Set[Tuple[str, Tuple[Edit, ...]]] = set()
    # A parent itself (e.g. a scramble that cannot change a block) is never a candidate.
    seen_sequences = {hashlib.sha1(seq.upper().encode()).digest()
                      for seq in itertools.chain(exclude_sequences, (parent.sequence for parent in parents))}
    candidates: List[Candidate] = []
    attempts = 0
    budget = 20 * count + 1000
    while len(candidates) < count and attempts < budget:
        attempts += 1
        parent, parent_kinds, mutable = usable[int(rng.integers(len(usable)))]
        edits = _draw_edits(rng, parent, parent_kinds, max_edits, mutable)
        if (parent.name, edits) in seen_edits:
            continue
        seen_edits.add((parent.name, edits))
        sequence, sites = apply_edits(parent, edits, seed)
        digest = hashlib.sha1(sequence.encode()).digest()
        if digest in seen_sequences or not sequence:
            continue
        seen_sequences.add(digest)
        name = ".".join([parent.name] + [edit.label for edit in edits])
        candidates.append(Candidate(name, parent.name, edits, sequence, sites))
    if len(candidates) < count:
        LOG.warning("only %d distinct candidate(s) found after %d draws (asked for %d): the edit space of %d "
                    "parent(s) with --max-edits %d is smaller", len(candidates), attempts, count, len(parents), max_edits)
    return candidates
