"""Deterministic synthetic demo data in the formats the original research tool reads.

No real genome, assay or bigWig can be downloaded here, so ``enformer-tfx demo-data`` writes a
small, self-consistent world whose labels are a hidden function of sequence. A model can learn
it; tests can tell learning from noise.

Files written to ``OUTDIR`` (same seed and scale -> byte-identical files):

``reference.fa`` (+ ``.fai``)
    Contigs ``chr3`` (carries the context locus), ``chr19`` and ``chrX``; 1.8 Mb in all at
    ``scale=1``. Bases are i.i.d. with mouse-like composition (A/T 29 %, C/G 21 %), with soft-masked
    (lower-case) repeat-like stretches and runs of ``N`` (assembly gaps). Motifs (below) are
    planted at random positions/orientations, about one per 1.5 kb.
``payloads.fa``, ``activity.tsv``, ``annotation.bed``
    ~200 payloads at ``scale=1``: a payload library designed the way locus-integration screens
    are, as variants of one locus control region (below), in 5 design groups. Lengths ~0.6-3.1
    kb, plus a few (~3 %) of 30 kb, longer than the default 26,880 bp construct (their design
    sits in the centre, which survives centre-trimming; their activity counts the whole payload,
    so a rare chance motif hit in the random background outside a model's window counts too). FASTA names use ``_`` where
    table names use ``~`` (as in the original data). ``activity.tsv`` has the original table's
    columns ``MenDel.Name groups foldchange activity``, 2-4 replicate rows per payload, and a few
    rows with ``NA``. ``annotation.bed`` lists DHS-like sites in each payload in
    *payload* coordinates: column 1 is the payload's FASTA name (so the BED is valid against
    ``payloads.fa``), column 4 the site label (as the original's locus BED names its DHSs):
    ``DHS<k>`` for a site inside element ``k`` (1-8) of the LCR, ``ACT1`` for one elsewhere
    (spacer, GC-rich insert, scrambled element, long-payload background); a label repeated
    within a payload gets ``.2``, ``.3``, ... Column 6 is the site's strand.
``tracks.tsv``, ``tracks/*.bw``, ``mappable.bed``
    4 bigWig tracks covering the reference (pyBigWig, 16 bp resolution) in the seven-column
    Basenji format, with missing (NaN) stretches; ``mappable.bed`` = the reference minus
    ``N`` gaps and the context locus. ``tracks_pretrain.tsv`` (the first three tracks) and
    ``tracks_heldout.tsv`` (the last) split them for trunk pretraining and a new head.
``manifest.json``
    Seed, scale, context locus (``chr3:START-END``, 1-based inclusive), motif definitions and
    the files written.

Generative rule (hidden from the models, documented for the tests):

* Motifs: ``ACT1 = TATGCAAAT`` (Oct4-like), ``ACT2 = GGGGCGGGG`` (Sp/Klf-like),
  ``REP = CCTTATCTG`` (repressor-like). Counts are taken on both strands.
* The payload library: 8 DHS-like element backbones of 160 bp make up a wild-type LCR
  (elements in order between random 60-139 bp spacers). Designs per group: ``LCR~deletion``
  removes 1-6 elements; ``DHS~scramble`` shuffles the bases of 1-6 elements (length kept, no
  motifs loaded into them); ``inversion`` inverts up to 4 elements in place and deletes up to 3;
  ``synthetic`` arrays 3-10 elements drawn with replacement, in random orientation, between
  fresh spacers; ``CpG~island`` deletes 0-3 elements and inserts a GC-rich 200-500 bp stretch
  with 0-4 ACT2.
* Motif loading: each payload then draws its own rate per motif (ACT1 uniform in 0-3, ACT2 and
  REP in 0-2 copies per element), and every element copy of the payload gets Poisson(rate)
  copies of each motif at fresh random positions and strands. So which motifs a payload
  carries, and where, varies independently of the design and of each other (a model cannot
  read the activity off element identity or off one motif standing in for another), while the
  backbones and spacers are shared, as in a real screen.
* Payload activity (per payload, before noise), with ``a``/``b``/``r`` the ACT1/ACT2/REP counts
  and ``s`` the number of ACT1 sites followed within 300 bp by an ACT2 site on the same strand::

      activity = softplus(0.25 a + 0.15 b - 0.30 r + 0.20 s - 1.5)

  Replicate rows add Gaussian noise (sd 0.08) and are clipped at 0. ``foldchange`` is the
  replicate's activity relative to the median payload, log2. Annotated sites are the ACT1
  motif occurrences of the payload plus 40 bp either side.
* Track ``k`` (k = 0..3) at each base: a Gaussian bump (sd 60 bp) at each planted occurrence of
  the track's motif (ACT1, ACT2, REP, ACT1 again with a wider 150 bp bump), plus
  ``0.2 * local GC fraction`` (200 bp window) plus small noise, never negative. Tracks 1 and 3
  each have two data-free stretches (read back as NaN).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from components.errors import InputError
from components.genome import decode_codes, encode_sequence, reverse_complement_codes, write_fasta
from components.outputs import atomic_outputs
from components.payload_example_gen.constructs import fasta_key

LOG = logging.getLogger(__name__)

MOTIFS: Dict[str, str] = {"ACT1": "TATGCAAAT", "ACT2": "GGGGCGGGG", "REP": "CCTTATCTG"}
BASE_PROBABILITIES = np.array([0.29, 0.21, 0.21, 0.29])  # A C G T, mouse-like GC ~42 %
GROUPS = ("LCR~deletion", "DHS~scramble", "synthetic", "inversion", "CpG~island")
TRACK_MOTIFS: Sequence[Tuple[str, float]] = (("ACT1", 60.0), ("ACT2", 60.0), ("REP", 60.0), ("ACT1", 150.0))
TRACK_RESOLUTION = 16  # bp per bigWig entry
SYNERGY_DISTANCE = 300
SITE_PADDING = 40
CHROMOSOMES: Sequence[Tuple[str, int]] = (("chr3", 1_000_000), ("chr19", 400_000), ("chrX", 400_000))
CONTEXT_LENGTH = 39_929  # length of the mouse Sox2 LCR deletion, chr3:34732778-34772706 (mm10)


@dataclasses.dataclass(frozen=True)
class MotifSite:
    """A planted motif: 0-based start in its sequence, strand +1/-1."""

    motif: str
    start: int
    strand: int

    @property
    def end(self) -> int:
        return self.start + len(MOTIFS[self.motif])


PRETRAIN_TRACKS_TSV = "tracks_pretrain.tsv"
HELDOUT_TRACKS_TSV = "tracks_heldout.tsv"


def random_codes(rng: np.random.Generator, length: int) -> np.ndarray:
    """``[length]`` uint8 codes drawn i.i.d. with mouse-like base composition."""
    return rng.choice(4, size=length, p=BASE_PROBABILITIES).astype(np.uint8)


def plant_motifs(rng: np.random.Generator, codes: np.ndarray, counts: Dict[str, int]) -> List[MotifSite]:
    """Write ``counts[motif]`` copies of each motif into ``codes`` (in place), non-overlapping.

    Returns the planted sites sorted by position.
    """
    occupied = np.zeros(len(codes), dtype=bool)
    sites: List[MotifSite] = []
    for motif, count in counts.items():
        motif_codes = encode_sequence(MOTIFS[motif])
        for _ in range(count):
            for _attempt in range(50):
                start = int(rng.integers(0, len(codes) - len(motif_codes)))
                window = slice(start, start + len(motif_codes))
                if not occupied[max(0, start - 5) : window.stop + 5].any():
                    break
            else:
                continue  # sequence too crowded: plant fewer
            strand = 1 if rng.random() < 0.5 else -1
            codes[window] = motif_codes if strand == 1 else reverse_complement_codes(motif_codes)
            occupied[window] = True
            sites.append(MotifSite(motif, start, strand))
    return sorted(sites, key=lambda site: site.start)


def find_motif_sites(sequence: str) -> List[MotifSite]:
    """All occurrences of every motif on both strands of ``sequence`` (any case), by position."""
    upper = sequence.upper()
    sites = []
    for motif, word in MOTIFS.items():
        for strand, pattern in ((1, word), (-1, decode_codes(reverse_complement_codes(encode_sequence(word))))):
            position = upper.find(pattern)
            while position != -1:
                sites.append(MotifSite(motif, position, strand))
                position = upper.find(pattern, position + 1)
    return sorted(set(sites), key=lambda site: (site.start, site.motif, site.strand))


def motif_features(sequence: str) -> Dict[str, int]:
    """Counts that define the activity rule: ACT1, ACT2, REP and same-strand ACT1->ACT2 pairs."""
    sites = find_motif_sites(sequence)
    counts = {motif: sum(site.motif == motif for site in sites) for motif in MOTIFS}
    act2 = [site for site in sites if site.motif == "ACT2"]
    synergy = 0
    for site in sites:
        if site.motif != "ACT1":
            continue
        for partner in act2:
            # "followed" is in the site's own reading direction
            distance = (partner.start - site.start) * site.strand
            if partner.strand == site.strand and 0 < distance <= SYNERGY_DISTANCE:
                synergy += 1
                break
    counts["SYNERGY"] = synergy
    return counts


def activity_from_sequence(sequence: str) -> float:
    """Noise-free activity of a payload under the documented rule."""
    f = motif_features(sequence)
    mu = 0.25 * f["ACT1"] + 0.15 * f["ACT2"] - 0.30 * f["REP"] + 0.20 * f["SYNERGY"] - 1.5
    return float(math.log1p(math.exp(mu)))


def _soft_mask_and_gaps(rng: np.random.Generator, sequence: str, n_gaps: int) -> str:
    """Lower-case ~5 % of the sequence in 300 bp stretches and insert ``n_gaps`` 2 kb ``N`` runs."""
    chars = np.frombuffer(sequence.encode(), dtype=np.uint8).copy()
    for start in rng.integers(0, len(chars) - 300, size=len(chars) // 6000):
        chars[start : start + 300] |= 0x20  # ASCII upper -> lower case
    gap_starts = np.sort(rng.integers(20_000, len(chars) - 20_000, size=n_gaps))
    for start in gap_starts:
        chars[start : start + 2000] = ord("N")
    chars[:1000] = ord("N")  # telomere-like leading gap
    return chars.tobytes().decode()


def build_reference(rng: np.random.Generator, scale: float) -> Tuple[Dict[str, str], Dict[str, List[MotifSite]], Tuple[str, int, int]]:
    """Contigs, their planted motif sites and the context locus ``(chrom, start, end)`` (0-based)."""
    contigs: Dict[str, str] = {}
    sites: Dict[str, List[MotifSite]] = {}
    for name, base_length in CHROMOSOMES:
        length = max(int(base_length * scale), 120_000)
        codes = random_codes(rng, length)
        per_motif = length // 4500
        sites[name] = plant_motifs(rng, codes, {motif: per_motif for motif in MOTIFS})
        contigs[name] = _soft_mask_and_gaps(rng, decode_codes(codes), n_gaps=max(1, length // 400_000))
    chr3_length = len(contigs["chr3"])
    context_start = chr3_length // 2 - CONTEXT_LENGTH // 2
    context = ("chr3", context_start, context_start + CONTEXT_LENGTH)
    # The construct flanks come from around the context: keep them free of gaps.
    flank = slice(context_start - 40_000, context[2] + 40_000)
    chars = np.frombuffer(contigs["chr3"].encode(), dtype=np.uint8).copy()
    gaps = flank.start + np.flatnonzero(chars[flank] == ord("N"))
    if len(gaps):
        chars[gaps] = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(4, size=len(gaps))]
    contigs["chr3"] = chars.tobytes().decode()
    return contigs, sites, context


# Payload library: variants of one synthetic "LCR" made of DHS-like elements (see module doc).
N_ELEMENTS = 8
ELEMENT_LENGTH = 160
SPACER_LENGTHS = (60, 140)
LONG_PAYLOAD_LENGTH = 30_000


@dataclasses.dataclass(frozen=True)
class Part:
    """A stretch of payload sequence: ``[len]`` uint8 codes and the element it came from (-1: spacer)."""

    codes: np.ndarray
    element: int = -1


def build_elements(rng: np.random.Generator) -> List[np.ndarray]:
    """The ``N_ELEMENTS`` DHS-like element backbones: ``[ELEMENT_LENGTH]`` random codes each.

    Motifs are loaded per payload (:func:`load_motifs`), not into the shared backbones.
    """
    return [random_codes(rng, ELEMENT_LENGTH) for _ in range(N_ELEMENTS)]


# Per payload, the mean copies per element of each motif is drawn uniformly from [0, max].
MOTIF_RATE_MAXIMA: Dict[str, float] = {"ACT1": 3.0, "ACT2": 2.0, "REP": 2.0}


def draw_motif_rates(rng: np.random.Generator) -> Dict[str, float]:
    """One payload's motif rates (mean copies per element), independent across motifs."""
    return {motif: float(rng.uniform(0.0, maximum)) for motif, maximum in MOTIF_RATE_MAXIMA.items()}


def load_motifs(rng: np.random.Generator, parts: Sequence[Part], rates: Dict[str, float]) -> List[Part]:
    """Copy of ``parts`` whose element parts carry Poisson(``rates[motif]``) fresh copies of each motif.

    Spacers and scrambled elements (``element < 0``) are kept as they are.
    """
    loaded = []
    for part in parts:
        if part.element < 0:
            loaded.append(part)
            continue
        codes = part.codes.copy()
        plant_motifs(rng, codes, {motif: int(rng.poisson(rate)) for motif, rate in rates.items()})
        loaded.append(Part(codes, part.element))
    return loaded


def _spacer(rng: np.random.Generator) -> Part:
    return Part(random_codes(rng, int(rng.integers(*SPACER_LENGTHS))))


def wild_type_parts(rng: np.random.Generator, elements: Sequence[np.ndarray]) -> List[Part]:
    """The locus control region: every element once, in order, between fresh random spacers.

    Spacers are drawn once per library (pass the same ``rng`` state), so variants share them.
    """
    parts = [_spacer(rng)]
    for index, codes in enumerate(elements):
        parts += [Part(codes, index), _spacer(rng)]
    return parts


def design_variant(rng: np.random.Generator, group: str, wild_type: Sequence[Part], elements: Sequence[np.ndarray]) -> List[Part]:
    """One payload design of ``group`` (deletions, scrambles, inversions, synthetic arrays, CpG inserts)."""
    element_slots = [i for i, part in enumerate(wild_type) if part.element >= 0]
    parts = list(wild_type)
    if group == "LCR~deletion":  # remove 1-6 elements (and the spacer after each)
        for slot in sorted(rng.choice(element_slots, size=int(rng.integers(1, 7)), replace=False), reverse=True):
            del parts[slot : slot + 2]
    elif group == "DHS~scramble":  # shuffle the bases of 1-6 elements: length kept, motifs destroyed
        for slot in rng.choice(element_slots, size=int(rng.integers(1, 7)), replace=False):
            parts[slot] = Part(rng.permutation(parts[slot].codes))
    elif group == "inversion":  # invert 1-4 elements in place, and delete 0-3 others
        chosen = rng.choice(element_slots, size=int(rng.integers(1, 8)), replace=False)
        inverted, deleted = chosen[:4], chosen[4:]
        for slot in inverted:
            parts[slot] = Part(reverse_complement_codes(parts[slot].codes), parts[slot].element)
        for slot in sorted(deleted, reverse=True):
            del parts[slot : slot + 2]
    elif group == "synthetic":  # 3-10 elements drawn with replacement, random orientation
        parts = [_spacer(rng)]
        for element in rng.integers(0, len(elements), size=int(rng.integers(3, 11))):
            codes = elements[element] if rng.random() < 0.5 else reverse_complement_codes(elements[element])
            parts += [Part(codes, int(element)), _spacer(rng)]
    elif group == "CpG~island":  # a GC-rich 200-500 bp insert with 0-4 ACT2 sites, 0-3 deletions
        for slot in sorted(rng.choice(element_slots, size=int(rng.integers(0, 4)), replace=False), reverse=True):
            del parts[slot : slot + 2]
        insert = rng.choice(4, size=int(rng.integers(200, 501)), p=[0.15, 0.35, 0.35, 0.15]).astype(np.uint8)
        plant_motifs(rng, insert, {"ACT2": int(rng.integers(0, 5))})
        position = int(rng.integers(0, len(parts) + 1))
        parts.insert(position, Part(insert))
    else:
        raise ValueError(f"unknown payload group {group!r}")
    return parts


# Element spans of a payload: (start, end, element index) in payload coordinates.
ElementSpans = List[Tuple[int, int, int]]


def element_spans(parts: Sequence[Part], offset: int = 0) -> ElementSpans:
    """Where each LCR element of a design sits once its parts are concatenated (after ``offset`` bp)."""
    spans, position = [], offset
    for part in parts:
        if part.element >= 0:
            spans.append((position, position + len(part.codes), part.element))
        position += len(part.codes)
    return spans


def build_payloads(rng: np.random.Generator, scale: float
                   ) -> Tuple[List[Tuple[str, str, str, List[MotifSite]]], Dict[str, ElementSpans]]:
    """``(table_name, group, sequence, motif_sites)`` for every payload (sites found in the sequence),
    and the element spans of each payload by table name."""
    n_payloads = max(int(round(200 * scale)), 20)
    elements = build_elements(rng)
    wild_type = wild_type_parts(rng, elements)
    payloads = []
    spans: Dict[str, ElementSpans] = {}
    for index in range(n_payloads):
        group = GROUPS[index % len(GROUPS)]
        parts = load_motifs(rng, design_variant(rng, group, wild_type, elements), draw_motif_rates(rng))
        codes = np.concatenate([part.codes for part in parts])
        start = 0
        if index % 33 == 16:  # ~3 % long payloads (at least one at small scales): design centred in 30 kb
            background = random_codes(rng, LONG_PAYLOAD_LENGTH)
            start = (LONG_PAYLOAD_LENGTH - len(codes)) // 2
            background[start : start + len(codes)] = codes
            codes = background
        sequence = decode_codes(codes)
        name = f"{group.split('~')[0]}~{index:03d}" if index % 3 == 0 else f"{group.replace('~', '')}-{index:03d}"
        payloads.append((name, group, sequence, find_motif_sites(sequence)))
        spans[name] = element_spans(parts, start)
    return payloads, spans


def write_activity_table(path: str, rng: np.random.Generator, payloads: Sequence[Tuple[str, str, str, List[MotifSite]]]) -> None:
    """Write replicate rows (``MenDel.Name groups foldchange activity``) with a few ``NA`` rows."""
    true_activity = np.array([activity_from_sequence(sequence) for _, _, sequence, _ in payloads])
    reference_level = float(np.median(true_activity))
    with open(path, "w", encoding="ascii") as handle:
        handle.write("MenDel.Name\tgroups\tfoldchange\tactivity\n")
        for (name, group, _sequence, _sites), activity in zip(payloads, true_activity):
            for replicate in range(int(rng.integers(2, 5))):
                value = max(0.0, activity + float(rng.normal(0.0, 0.08)))
                if rng.random() < 0.04:
                    handle.write(f"{name}\t{group}\tNA\tNA\n")
                    continue
                foldchange = math.log2((value + 1e-3) / (reference_level + 1e-3))
                handle.write(f"{name}\t{group}\t{foldchange:.4f}\t{value:.4f}\n")


def site_label(site: MotifSite, spans: ElementSpans) -> str:
    """``DHS<k>`` when the motif lies inside element ``k - 1`` of the design, else the motif name."""
    for start, end, element in spans:
        if start <= site.start and site.end <= end:
            return f"DHS{element + 1}"
    return site.motif


def write_annotation_bed(path: str, payloads: Sequence[Tuple[str, str, str, List[MotifSite]]],
                         spans: Optional[Dict[str, ElementSpans]] = None) -> None:
    """DHS-like sites: ACT1 motif occurrences ± SITE_PADDING, in payload coordinates.

    Column 4 is the site label (:func:`site_label`; the motif name without ``spans``), made
    unique within the payload by ``.2``, ``.3``, ... suffixes.
    """
    with open(path, "w", encoding="ascii") as handle:
        for name, _group, sequence, sites in payloads:
            seen: Dict[str, int] = {}
            for site in sites:
                if site.motif != "ACT1":
                    continue
                label = site_label(site, (spans or {}).get(name, []))
                seen[label] = seen.get(label, 0) + 1
                if seen[label] > 1:
                    label = f"{label}.{seen[label]}"
                start, end = max(0, site.start - SITE_PADDING), min(len(sequence), site.end + SITE_PADDING)
                handle.write(f"{fasta_key(name)}\t{start}\t{end}\t{label}\t0\t{'+' if site.strand == 1 else '-'}\n")


def _gaussian_kernel(sd_bp: float) -> np.ndarray:
    radius = int(4 * sd_bp)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    return np.exp(-0.5 * (x / sd_bp) ** 2)


def track_signal(rng: np.random.Generator, sequence: str, sites: Sequence[MotifSite], motif: str, sd_bp: float) -> np.ndarray:
    """Per-base signal ``[len(sequence)]`` float32 of one track on one contig (see module doc)."""
    length = len(sequence)
    impulses = np.zeros(length)
    for site in sites:
        if site.motif == motif:
            impulses[site.start + len(MOTIFS[motif]) // 2] += 3.0
    bumps = np.convolve(impulses, _gaussian_kernel(sd_bp), mode="same")
    upper = np.frombuffer(sequence.upper().encode(), dtype=np.uint8)
    gc = ((upper == ord("G")) | (upper == ord("C"))).astype(np.float64)
    gc_fraction = np.convolve(gc, np.ones(200) / 200, mode="same")
    noise = rng.gamma(2.0, 0.01, size=length)
    return (bumps + 0.2 * gc_fraction + noise).astype(np.float32)


def write_bigwig(path: str, chrom_sizes: Sequence[Tuple[str, int]], signals: Dict[str, np.ndarray], gaps: Dict[str, List[Tuple[int, int]]]) -> None:
    """Write per-contig signals at TRACK_RESOLUTION bp, omitting ``gaps`` (they read back as NaN)."""
    import pyBigWig

    writer = pyBigWig.open(path, "w")
    writer.addHeader(list(chrom_sizes), maxZooms=4)
    for chrom, length in chrom_sizes:
        usable = length - length % TRACK_RESOLUTION
        means = signals[chrom][:usable].reshape(-1, TRACK_RESOLUTION).mean(axis=1)
        keep = np.ones(len(means), dtype=bool)
        for gap_start, gap_end in gaps.get(chrom, []):
            keep[gap_start // TRACK_RESOLUTION : gap_end // TRACK_RESOLUTION] = False
        # Contiguous kept runs become fixed-step blocks (one addEntries call each).
        edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
        for run_start, run_end in zip(edges[::2], edges[1::2]):
            writer.addEntries(
                chrom,
                int(run_start * TRACK_RESOLUTION),
                values=[float(v) for v in np.round(means[run_start:run_end], 4)],
                span=TRACK_RESOLUTION,
                step=TRACK_RESOLUTION,
            )
    writer.close()


def write_mappable_bed(path: str, contigs: Dict[str, str], context: Tuple[str, int, int]) -> None:
    """Reference minus N runs and the context locus, as sorted BED intervals."""
    with open(path, "w", encoding="ascii") as handle:
        for chrom, sequence in contigs.items():
            is_n = np.frombuffer(sequence.encode(), dtype=np.uint8) == ord("N")
            if chrom == context[0]:
                is_n[context[1] : context[2]] = True
            edges = np.flatnonzero(np.diff(np.concatenate([[1], is_n.astype(np.int8), [1]])))
            for start, end in zip(edges[::2], edges[1::2]):
                if end - start >= 1000:
                    handle.write(f"{chrom}\t{start}\t{end}\n")


def generate_demo_data(outdir: str, seed: int = 7, scale: float = 1.0) -> Dict[str, object]:
    """Write the demo data set into ``outdir``; returns the manifest (also saved as JSON).

    Every file is written under a temporary name beside its target and renamed into place once
    all are written (:func:`components.outputs.atomic_outputs`): a failure leaves nothing new.
    """
    if scale <= 0:
        raise InputError(f"--scale {scale}: must be > 0")
    with atomic_outputs() as outputs:
        written: List[str] = []

        def target(name: str) -> str:
            written.append(name)
            return outputs.reserve(os.path.join(outdir, name))

        return _write_demo_data(outdir, seed, scale, target, written)


def _write_demo_data(outdir: str, seed: int, scale: float, target: Callable[[str], str],
                     written: List[str]) -> Dict[str, object]:
    """:func:`generate_demo_data` into the paths ``target(relative name)`` hands out."""
    rng = np.random.default_rng(seed)
    LOG.info("demo-data: reference genome (scale %.2f)", scale)
    contigs, reference_sites, context = build_reference(rng, scale)
    write_fasta(target("reference.fa"), contigs.items(), index_path=target("reference.fa.fai"))
    write_mappable_bed(target("mappable.bed"), contigs, context)

    LOG.info("demo-data: payloads and activity table")
    payloads, spans = build_payloads(rng, scale)
    write_fasta(target("payloads.fa"), ((fasta_key(n), s) for n, _, s, _ in payloads), index=False)
    write_activity_table(target("activity.tsv"), rng, payloads)
    write_annotation_bed(target("annotation.bed"), payloads, spans)

    LOG.info("demo-data: bigWig tracks")
    chrom_sizes = [(chrom, len(sequence)) for chrom, sequence in contigs.items()]
    track_rows = []
    for index, (motif, sd_bp) in enumerate(TRACK_MOTIFS):
        signals = {chrom: track_signal(rng, seq, reference_sites[chrom], motif, sd_bp) for chrom, seq in contigs.items()}
        gaps: Dict[str, List[Tuple[int, int]]] = {}
        if index % 2 == 1:  # data-free stretches, read back as NaN
            for chrom, length in chrom_sizes[1:]:
                start = int(rng.integers(10_000, length - 20_000)) // TRACK_RESOLUTION * TRACK_RESOLUTION
                gaps[chrom] = [(start, start + 4_000)]
        identifier = f"DEMO{index:02d}"
        write_bigwig(target(os.path.join("tracks", f"{identifier}.bw")), chrom_sizes, signals, gaps)
        track_rows.append(f"{index}\t{identifier}\ttracks/{identifier}.bw\t384\t1\tsum\tdemo {motif} sd{int(sd_bp)}")
    # All tracks, and the two-stage demo's split: pretraining on the first, a new head on the last.
    for name, rows in (("tracks.tsv", track_rows), (PRETRAIN_TRACKS_TSV, track_rows[:-1]),
                       (HELDOUT_TRACKS_TSV, track_rows[-1:])):
        with open(target(name), "w", encoding="ascii") as handle:
            handle.write("index\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n")
            handle.write("\n".join(rows) + "\n")

    manifest: Dict[str, object] = {
        "seed": seed,
        "scale": scale,
        "context": f"{context[0]}:{context[1] + 1}-{context[2]}",
        "motifs": MOTIFS,
        "n_payloads": len(payloads),
        "groups": list(GROUPS),
        "chrom_sizes": dict(chrom_sizes),
        "files": sorted(written),
    }
    with open(target("manifest.json"), "w", encoding="ascii") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
        handle.write("\n")
    LOG.info("demo-data: wrote %d payloads, %d contigs, %d tracks to %s", len(payloads), len(contigs), len(track_rows), outdir)
    return manifest
