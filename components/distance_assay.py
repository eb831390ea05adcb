"""The in-silico distance assay: a fixed site and a mobile element on shuffled backgrounds.

For every site pair (a fixed site, e.g. a promoter, and a mobile element, e.g. an enhancer, both
taken from the reference) and every background ``k`` of ``shuffles``:

* the background is ``length`` bp: the reference window around the fixed site, dinucleotide
  shuffled (:func:`components.dinucleotides.dinucleotide_shuffle`), or a first-order Markov draw
  from given dinucleotide frequencies (:func:`components.dinucleotides.markov_sequence`);
* the fixed site is written back at window position ``fixed_start = (length - len(fixed)) // 2``;
* the mobile element (forward and/or reverse-complemented) overwrites the background at every
  grid distance ``d = k * step`` (``|d| <= length // 2``) where it fits inside the window
  without touching the fixed site. ``d`` is centre to centre, with centres at ``start + len // 2``:
  ``mobile_start = fixed_start + len(fixed) // 2 + d - len(mobile) // 2``; negative ``d`` is
  upstream (before the fixed site in the window, which reads 5' to 3' along the fixed site);
* one more window per background holds the fixed site alone (``fixed_alone``).

A score function ``[B, length] uint8 codes -> [B, bins]`` (one track, bins of ``length / bins`` bp)
is applied to all windows of all pairs in batches of ``batch``; the signal of an element is the
maximum over the bins overlapping it (as ``predict`` scores annotated sites). The code does not
depend on a model: the command passes the compiled predictor.

Sites file (BEDPE, 0-based half-open; ``#``/``track``/``browser`` lines skipped):
``chrom1 start1 end1 chrom2 start2 end2 [name [score [strand1 strand2]]]`` -- element 1 is the
fixed site, element 2 the mobile element; strand ``-`` takes that element reverse-complemented
(for the fixed site: the whole window is built on its minus strand).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from components import dinucleotides, genome
from components.errors import InputError

LOG = logging.getLogger(__name__)

ORIENTATIONS = ("forward", "reverse")
REPORT_COLUMNS = ("index", "name", "orientation", "distance", "mobile_start", "shuffles", "fixed_signal",
                  "fixed_sd", "mobile_signal", "mobile_sd", "fixed_alone", "fixed_alone_sd")

ScoreFn = Callable[[np.ndarray], np.ndarray]  # [B, length] uint8 codes -> [B, bins] float


@dataclasses.dataclass(frozen=True)
class Element:
    """One element of a site pair: ``[start, end)`` on ``chrom``; ``strand`` ``-`` = reverse complement."""

    chrom: str
    start: int
    end: int
    strand: str = "+"

    @property
    def length(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        return f"{self.chrom}:{self.start + 1}-{self.end}({self.strand})"


@dataclasses.dataclass(frozen=True)
class SitePair:
    """One line of the sites file."""

    index: int  # 0-based position in the file's pairs
    line: int  # 1-based line number, for errors
    name: str
    fixed: Element
    mobile: Element


def read_site_pairs(path: str) -> List[SitePair]:
    """Parse the BEDPE sites file; raises :class:`InputError` naming ``path:line`` for a malformed line."""
    pairs: List[SitePair] = []
    with genome.open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.rstrip("\n\r")
            if not text.strip() or text.startswith(("#", "track", "browser")):
                continue
            fields = text.split("\t") if "\t" in text else text.split()
            where = f"{path}:{number}"
            if len(fields) < 6:
                raise InputError(f"{where}: expected BEDPE 'chrom1 start1 end1 chrom2 start2 end2 [name [score "
                                 f"[strand1 strand2]]]', got {len(fields)} column(s): {text!r}")
            strands = (fields[8] if len(fields) > 8 else "+", fields[9] if len(fields) > 9 else "+")
            elements = []
            for role, (chrom, start, end), strand in zip(("fixed site", "mobile element"),
                                                         (fields[0:3], fields[3:6]), strands):
                try:
                    first, last = int(start), int(end)
                except ValueError:
                    raise InputError(f"{where}: {role} start/end must be integers, got {start!r}, {end!r}") from None
                if first < 0 or first >= last:
                    raise InputError(f"{where}: {role} needs 0 <= start < end, got start={first} end={last}")
                if strand not in ("+", "-", "."):
                    raise InputError(f"{where}: {role} strand must be '+', '-' or '.', got {strand!r}")
                elements.append(Element(chrom, first, last, "-" if strand == "-" else "+"))
            name = fields[6] if len(fields) > 6 and fields[6] not in ("", ".") else f"{elements[0]}~{elements[1]}"
            pairs.append(SitePair(len(pairs), number, name, elements[0], elements[1]))
    if not pairs:
        raise InputError(f"{path}: no site pairs")
    return pairs


@dataclasses.dataclass(frozen=True)
class Layout:
    """Window geometry of one pair: ``distances`` ``[P]`` (shared by all pairs), ``mobile_starts`` ``[P]``
    (window position of the mobile element, -1 where it does not fit or would touch the fixed site)."""

    length: int
    fixed_start: int
    fixed_end: int
    mobile_length: int
    distances: np.ndarray
    mobile_starts: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """``[P]`` bool: grid positions used for this pair."""
        return self.mobile_starts >= 0


def distance_grid(length: int, step: int) -> np.ndarray:
    """``[P]`` int64 centre-to-centre distances ``k * step`` with ``|k * step| <= length // 2``."""
    if step < 1:
        raise InputError(f"--step-size must be >= 1, got {step}")
    reach = (length // 2) // step
    return np.arange(-reach, reach + 1, dtype=np.int64) * step


def layout(length: int, fixed_length: int, mobile_length: int, distances: np.ndarray) -> Layout:
    """Place the fixed site at the window centre and the mobile element at every distance that fits."""
    fixed_start = (length - fixed_length) // 2
    fixed_end = fixed_start + fixed_length
    starts = fixed_start + fixed_length // 2 + distances - mobile_length // 2
    ends = starts + mobile_length
    fits = (starts >= 0) & (ends <= length) & ((ends <= fixed_start) | (starts >= fixed_end))
    return Layout(length, fixed_start, fixed_end, mobile_length, distances, np.where(fits, starts, -1))


def _oriented(codes: np.ndarray, strand: str) -> np.ndarray:
    return genome.reverse_complement_codes(codes) if strand == "-" else codes


def pair_rng(seed: int, pair: SitePair, shuffle: int) -> np.random.Generator:
    """Generator of background ``shuffle`` of ``pair``: depends on the seed, the pair's name and
    coordinates and the shuffle number, not on the order of the file."""
    key = f"distance-assay\t{seed}\t{pair.name}\t{pair.fixed}\t{pair.mobile}\t{shuffle}"
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


@dataclasses.dataclass
class PairInputs:
    """Everything needed to build the windows of one pair (codes already oriented)."""

    pair: SitePair
    layout: Layout
    fixed_codes: np.ndarray  # [len(fixed)]
    mobile_codes: np.ndarray  # [len(mobile)]
    backgrounds: np.ndarray  # [shuffles, length]


def check_pairs(pairs: Sequence[SitePair], reference: genome.ReferenceGenome, path: str, length: int,
                shuffle_reference: bool) -> None:
    """Every element on its chromosome, both fit one window, and (when the background is the
    shuffled reference) the window around the fixed site lies on the chromosome; errors name the line."""
    sizes = reference.chrom_sizes
    for pair in pairs:
        where = f"{path}:{pair.line}"
        for role, element in (("fixed site", pair.fixed), ("mobile element", pair.mobile)):
            if element.chrom not in sizes:
                raise InputError(f"{where}: {role} {element}: chromosome {element.chrom!r} is not in {reference.path}")
            if element.end > sizes[element.chrom]:
                raise InputError(f"{where}: {role} {element} is off chromosome {element.chrom} "
                                 f"(length {sizes[element.chrom]})")
        if pair.fixed.length + pair.mobile.length > length:
            raise InputError(f"{where}: fixed site ({pair.fixed.length} bp) and mobile element "
                             f"({pair.mobile.length} bp) do not fit together in the {length} bp window")
        if shuffle_reference:
            start, end = background_interval(pair.fixed, length)
            if start < 0 or end > sizes[pair.fixed.chrom]:
                raise InputError(f"{where}: the {length} bp background window around the fixed site "
                                 f"({pair.fixed.chrom}:{start + 1}-{end}) is off chromosome {pair.fixed.chrom} "
                                 f"(length {sizes[pair.fixed.chrom]}); use --dinuc-frequency or a shorter --length")


def background_interval(fixed: Element, length: int) -> Tuple[int, int]:
    """Genomic ``[start, end)`` whose (for ``-`` reverse-complemented) sequence puts ``fixed`` at
    window position ``(length - len(fixed)) // 2``."""
    offset = (length - fixed.length) // 2
    start = fixed.start - offset if fixed.strand == "+" else fixed.end + offset - length
    return start, start + length


def pair_inputs(pair: SitePair, reference: genome.ReferenceGenome, grid: np.ndarray, length: int, shuffles: int,
                seed: int, frequencies: Optional[np.ndarray]) -> PairInputs:
    """Fetch the elements and draw the ``shuffles`` backgrounds of ``pair``."""
    fixed_codes = _oriented(reference.fetch_codes(pair.fixed.chrom, pair.fixed.start, pair.fixed.end),
                            pair.fixed.strand)
    mobile_codes = _oriented(reference.fetch_codes(pair.mobile.chrom, pair.mobile.start, pair.mobile.end),
                             pair.mobile.strand)
    backgrounds = np.empty((shuffles, length), dtype=np.uint8)
    window = None
    if frequencies is None:
        window = _oriented(reference.fetch_codes(pair.fixed.chrom, *background_interval(pair.fixed, length)),
                           pair.fixed.strand)
    for k in range(shuffles):
        rng = pair_rng(seed, pair, k)
        backgrounds[k] = (dinucleotides.dinucleotide_shuffle(window, rng) if window is not None
                          else dinucleotides.markov_sequence(frequencies, length, rng))
    return PairInputs(pair, layout(length, pair.fixed.length, pair.mobile.length, grid), fixed_codes,
                      mobile_codes, backgrounds)


# A window to predict: (pair slot, background, orientation index or -1 = fixed site alone, grid position).
WindowKey = Tuple[int, int, int, int]


def window_keys(inputs: PairInputs, slot: int, n_orientations: int) -> Iterator[WindowKey]:
    """Every window of one pair: per background, the fixed site alone, then each orientation x position."""
    positions = np.flatnonzero(inputs.layout.valid)
    for k in range(inputs.backgrounds.shape[0]):
        yield slot, k, -1, -1
        for o in range(n_orientations):
            for p in positions:
                yield slot, k, o, int(p)


def build_window(inputs: PairInputs, background: int, orientation: int, position: int,
                 orientations: Sequence[str]) -> np.ndarray:
    """``[length]`` uint8 codes: background, fixed site restored, mobile element (if any) placed."""
    window = inputs.backgrounds[background].copy()
    geometry = inputs.layout
    window[geometry.fixed_start:geometry.fixed_end] = inputs.fixed_codes
    if orientation >= 0:
        start = int(geometry.mobile_starts[position])
        mobile = inputs.mobile_codes
        if orientations[orientation] == "reverse":
            mobile = genome.reverse_complement_codes(mobile)
        window[start:start + geometry.mobile_length] = mobile
    return window


def overlapping_bins(start: int, end: int, bin_size: int, n_bins: int) -> slice:
    """Bins ``j`` (``[j * bin_size, (j + 1) * bin_size)``) overlapping window positions ``[start, end)``."""
    return slice(max(0, start // bin_size), min(n_bins, -(-end // bin_size)))


@dataclasses.dataclass
class AssayResult:
    """Signals (NaN where the mobile element does not fit): ``fixed``/``mobile``
    ``[pairs, orientations, positions, shuffles]``, ``fixed_alone`` ``[pairs, shuffles]``,
    ``mobile_starts`` ``[pairs, positions]`` (-1 = unused), ``distances`` ``[positions]``."""

    pairs: List[SitePair]
    orientations: Tuple[str, ...]
    distances: np.ndarray
    mobile_starts: np.ndarray
    fixed: np.ndarray
    mobile: np.ndarray
    fixed_alone: np.ndarray
    windows: int
    seconds: float


def run_assay(pairs: Sequence[SitePair], reference: genome.ReferenceGenome, score: ScoreFn, *, length: int,
              step: int, shuffles: int, seed: int, orientations: Sequence[str] = ("forward",),
              frequencies: Optional[np.ndarray] = None, batch: int = 8,
              progress: Optional[Callable[[int, int], None]] = None) -> AssayResult:
    """Build every window of every pair and score them ``batch`` at a time (see the module docstring).

    Backgrounds are drawn one pair at a time (a pair's windows are consecutive) and dropped once
    scored, so memory holds the backgrounds of the pairs of one batch plus the batch itself.
    """
    if shuffles < 1:
        raise InputError(f"--shuffles must be >= 1, got {shuffles}")
    if batch < 1:
        raise InputError(f"--batch must be >= 1, got {batch}")
    orientations = tuple(orientations)
    grid = distance_grid(length, step)
    n_pairs, n_orient, n_pos = len(pairs), len(orientations), grid.size
    fixed = np.full((n_pairs, n_orient, n_pos, shuffles), np.nan, dtype=np.float32)
    mobile = np.full_like(fixed, np.nan)
    fixed_alone = np.full((n_pairs, shuffles), np.nan, dtype=np.float32)
    mobile_starts = np.full((n_pairs, n_pos), -1, dtype=np.int64)
    total = sum(shuffles * (1 + n_orient * int(layout(length, p.fixed.length, p.mobile.length, grid).valid.sum()))
                for p in pairs)
    loaded: Dict[int, PairInputs] = {}

    def keys() -> Iterator[WindowKey]:
        for slot, pair in enumerate(pairs):
            inputs = pair_inputs(pair, reference, grid, length, shuffles, seed, frequencies)
            loaded[slot] = inputs
            mobile_starts[slot] = inputs.layout.mobile_starts
            yield from window_keys(inputs, slot, n_orient)

    started, done = time.perf_counter(), 0
    stream = keys()
    while True:
        chunk = [key for _, key in zip(range(batch), stream)]
        if not chunk:
            break
        codes = np.stack([build_window(loaded[s], k, o, p, orientations) for s, k, o, p in chunk])
        signal = np.asarray(score(codes), dtype=np.float64)
        if signal.shape[0] != len(chunk) or signal.ndim != 2:
            raise ValueError(f"score function returned shape {signal.shape} for {len(chunk)} windows; "
                             "expected [windows, bins]")
        bin_size = length // signal.shape[1]
        for row, (s, k, o, p) in enumerate(chunk):
            geometry = loaded[s].layout
            fixed_value = np.max(signal[row, overlapping_bins(geometry.fixed_start, geometry.fixed_end, bin_size,
                                                              signal.shape[1])])
            if o < 0:
                fixed_alone[s, k] = fixed_value
                continue
            start = int(geometry.mobile_starts[p])
            fixed[s, o, p, k] = fixed_value
            mobile[s, o, p, k] = np.max(signal[row, overlapping_bins(start, start + geometry.mobile_length, bin_size,
                                                                     signal.shape[1])])
        for slot in [slot for slot in loaded if slot < chunk[-1][0]]:
            del loaded[slot]  # later batches only need the last pair of this one
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    return AssayResult(list(pairs), orientations, grid, mobile_starts, fixed, mobile, fixed_alone, done,
                       time.perf_counter() - started)


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.6g}"


def report_lines(result: AssayResult) -> List[str]:
    """Report TSV: one row per pair x orientation x used distance; signals are means (and sample
    sd) over the backgrounds; ``fixed_alone`` is the fixed site's signal without the mobile element."""
    lines = ["\t".join(REPORT_COLUMNS) + "\n"]
    shuffles = result.fixed_alone.shape[1]

    def sd(values: np.ndarray) -> float:
        return float(np.std(values, ddof=1)) if values.size > 1 else 0.0

    for s, pair in enumerate(result.pairs):
        alone = result.fixed_alone[s]
        for o, orientation in enumerate(result.orientations):
            for p in np.flatnonzero(result.mobile_starts[s] >= 0):
                values = [result.fixed[s, o, p], result.mobile[s, o, p]]
                lines.append("\t".join([
                    str(pair.index), pair.name, orientation, str(int(result.distances[p])),
                    str(int(result.mobile_starts[s, p])), str(shuffles),
                    _fmt(float(values[0].mean())), _fmt(sd(values[0])), _fmt(float(values[1].mean())),
                    _fmt(sd(values[1])), _fmt(float(alone.mean())), _fmt(sd(alone))]) + "\n")
    return lines


def save_arrays(path: str, result: AssayResult, **metadata: object) -> None:
    """``.npz`` with the signal arrays of :class:`AssayResult` plus ``index`` (int64), ``names``,
    ``orientations`` and ``metadata`` entries (scalars/strings)."""
    with open(path, "wb") as handle:
        np.savez(handle, distance=result.distances, mobile_start=result.mobile_starts, fixed=result.fixed,
                 mobile=result.mobile, fixed_alone=result.fixed_alone,
                 index=np.array([pair.index for pair in result.pairs], dtype=np.int64),
                 names=np.array([pair.name for pair in result.pairs], dtype=str),
                 orientations=np.array(result.orientations, dtype=str),
                 **{key: np.asarray(value) for key, value in metadata.items()})


def plot(path: str, result: AssayResult, label: str, max_pairs: int = 12) -> None:
    """PNG: signal (mean over backgrounds, shaded +/- sd) against distance, fixed site and mobile
    element side by side, one row per pair (the first ``max_pairs``); dashed = fixed site alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = result.pairs[:max_pairs]
    figure, axes = plt.subplots(len(shown), 2, figsize=(11, 2.6 * len(shown) + 0.6), squeeze=False,
                                sharex=True)
    for s, pair in enumerate(shown):
        x = result.distances / 1000.0  # unused distances are NaN: the lines break around the fixed site
        for column, (values, title) in enumerate(((result.fixed, "fixed site"), (result.mobile, "mobile element"))):
            ax = axes[s, column]
            for o, orientation in enumerate(result.orientations):
                mean = values[s, o].mean(axis=-1)
                spread = values[s, o].std(axis=-1)
                ax.plot(x, mean, lw=1.2, label=orientation)
                ax.fill_between(x, mean - spread, mean + spread, alpha=0.25)
            if column == 0:
                ax.axhline(float(result.fixed_alone[s].mean()), color="grey", ls="--", lw=1, label="fixed site alone")
            ax.axvline(0, color="black", lw=0.5)
            ax.set_title(f"{pair.name}: {title}", fontsize=9)
            ax.set_ylabel(label, fontsize=8)
        axes[s, 0].legend(fontsize=7, loc="best")
    for ax in axes[-1]:
        ax.set_xlabel("distance of the mobile element (kb, centre to centre; < 0 upstream)")
    if len(result.pairs) > len(shown):
        figure.suptitle(f"first {len(shown)} of {len(result.pairs)} site pairs (all are in the TSV and NPZ)",
                        fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)
