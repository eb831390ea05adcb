"""Attribution report of spliced payloads: what ``enformer-tfx attribute`` computes and writes.

Per payload (sequence in payload coordinates, 0-based):

1. the construct is spliced exactly as ``make-dataset`` splices it
   (:func:`components.payload_example_gen.constructs.build_construct` with the locus flanks)
   and the model window is centred on the payload (:func:`.attribution.centred_window`);
2. only the payload bases inside the window are attributed: ``ism`` mutates each of them to
   the three other bases (batched), ``saliency`` takes gradient x input in one backward pass;
3. the score is the model output named by the target: ``activity``, or one track averaged over
   the bins overlapping the scored payload bases.

Outputs (``PREFIX`` = ``--output``), each written to a temporary name and renamed:

* ``PREFIX.bedgraph`` -- chrom = payload FASTA name, per-base score in payload coordinates,
  runs of equal values merged, sorted;
* ``PREFIX.npz`` -- ``payloads`` (names), ``method``, ``target``, and per payload ``NAME/codes``
  ``[P]`` uint8, ``NAME/scores`` ``[P]`` (NaN outside the window), ``NAME/deltas`` ``[P, 4]``
  (ISM) or ``NAME/gradient`` ``[P, 4]`` (saliency) (NaN outside the window),
  ``NAME/window_offset`` (payload coordinate of window position 0), ``NAME/reference_score``;
* ``PREFIX.<payload>.png`` -- score track, annotated sites shaded, logos of the top windows;
* with motifs: ``PREFIX.motifs.meme``, ``PREFIX.motifs.tsv`` (seqlets and their motif) and
  ``PREFIX.motif.<name>.png``.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from components import genome, signal_output
from components.interpret import attribution, motifs as motif_lib, plots
from components.interpret.params import METHODS
from components.payload_example_gen.constructs import build_construct, layout, locus_flanks

LOG = logging.getLogger(__name__)

BIN_SIZE = 128  # model output bin width (bp)


@dataclasses.dataclass(frozen=True)
class Payload:
    """A payload to explain: FASTA name, sequence, annotated ``(site, start, end)`` in payload coordinates."""

    name: str
    sequence: str
    sites: Tuple[Tuple[str, int, int], ...] = ()


@dataclasses.dataclass
class PayloadAttribution:
    """Scores of one payload; arrays in payload coordinates (NaN outside the model window)."""

    name: str
    codes: np.ndarray  # [P] uint8
    scores: np.ndarray  # [P] float64
    matrix: np.ndarray  # [P, 4]: ISM deltas or the gradient
    window: attribution.PayloadWindow
    reference_score: float
    sites: Tuple[Tuple[str, int, int], ...]
    seconds: float


@dataclasses.dataclass(frozen=True)
class Target:
    """Model output to explain: ``activity``, or ``column`` of a binned ``output`` (label for reports)."""

    output: str
    column: int = 0
    label: str = attribution.ACTIVITY


@functools.lru_cache(maxsize=8)
def _score_fn(model_fn: attribution.ModelFn, input_length: int, output: str, bins: Optional[Tuple[int, int]],
              column: int, reverse_complement: bool) -> attribution.ScoreFn:
    """One compiled score function per distinct target (payloads with the same bins share its trace)."""
    return attribution.output_score_fn(model_fn, input_length, output, bins=bins, column=column,
                                       reverse_complement=reverse_complement)


def shift_starts(centred: attribution.PayloadWindow, shifts: int, construct_length: int) -> np.ndarray:
    """Window starts of ``shifts`` 1-bp shifts around the centred window (construct coordinates).

    Offsets ``-(shifts - 1) // 2 ... shifts // 2`` (one shift = the centred window), each start
    kept inside the construct; starts that coincide after that are evaluated once.
    """
    if shifts < 1:
        raise ValueError(f"shifts must be >= 1, got {shifts}")
    offsets = np.arange(shifts) - (shifts - 1) // 2
    return np.unique(np.clip(centred.start + offsets, 0, construct_length - centred.length))


def _shifted(centred: attribution.PayloadWindow, start: int, payload_length: int) -> attribution.PayloadWindow:
    """The window of the same length starting at construct position ``start``."""
    first = max(0, start - centred.shift)
    last = min(payload_length, start + centred.length - centred.shift)
    return attribution.PayloadWindow(int(start), centred.length, centred.shift, first, last)


def attribute_payload(model_fn: attribution.ModelFn, input_length: int, payload: Payload, left_flank: str,
                      right_flank: str, construct_length: int, target: Target, method: str = "ism",
                      reverse_complement: bool = False, batch_size: int = 8,
                      mutant_scorers: Optional[attribution.MutantScorerFactory] = None,
                      shifts: int = 1) -> PayloadAttribution:
    """Splice, centre the window, attribute (module docstring). Flanks as in ``build_construct``.

    ``mutant_scorers`` (ISM only): scores single-base mutants of a window without building the
    mutant windows (e.g. local recomputation of the model); default: mutant windows through
    ``model_fn``. ``shifts``: attribute each of that many 1-bp shifted windows
    (:func:`shift_starts`) and average, per payload base, the scores and the ``[P, 4]`` matrix
    over the windows that contain the base (the reference score: over all windows); the result's
    ``window`` is the centred one with ``first``/``last`` widened to every base scored.
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    began = time.perf_counter()
    construct = build_construct(payload.sequence, left_flank, right_flank, construct_length)
    size = len(payload.sequence)
    centred = attribution.centred_window(size, layout(size, construct_length).shift, construct_length, input_length)
    totals = np.zeros(size)
    matrix_totals = np.zeros((size, 4))
    counts = np.zeros(size)
    reference_scores = []
    starts = shift_starts(centred, shifts, construct_length)
    for number, start in enumerate(starts, start=1):
        window = _shifted(centred, start, size)
        one_hot = genome.one_hot(genome.encode_sequence(construct[window.start:window.start + input_length]))
        bins = window.bins(BIN_SIZE) if target.output != attribution.ACTIVITY else None
        score_fn = _score_fn(model_fn, input_length, target.output, bins, target.column, reverse_complement)
        positions = window.positions
        scored = slice(window.first, window.last)
        if method == "ism":
            label = payload.name if starts.size == 1 else f"{payload.name} shift {number}/{starts.size}"

            def progress(done: int, total: int, label: str = label) -> None:
                if done == total or done // batch_size % max(1, total // batch_size // 10) == 0:
                    LOG.info("  %s: %d/%d mutants", label, done, total)

            scorer = None
            if mutant_scorers is not None:
                scorer = mutant_scorers(one_hot, target.output, bins, target.column, reverse_complement)
            deltas = attribution.ism_deltas(score_fn, one_hot, batch_size, positions, progress, mutant_scorer=scorer)
            matrix_totals[scored] += deltas
            totals[scored] += attribution.ism_scores(deltas, one_hot[positions])
        else:
            gradient, per_base = attribution.gradient_x_input(score_fn, one_hot[None])
            matrix_totals[scored] += gradient[0, positions]
            totals[scored] += per_base[0, positions]
        counts[scored] += 1
        reference_scores.append(float(np.asarray(score_fn(one_hot[None]))[0]))
    inside = counts > 0
    scores = np.full(size, np.nan)
    matrix = np.full((size, 4), np.nan)
    scores[inside] = totals[inside] / counts[inside]
    matrix[inside] = matrix_totals[inside] / counts[inside, None]
    covered = np.flatnonzero(inside)
    window = dataclasses.replace(centred, first=int(covered[0]), last=int(covered[-1]) + 1)
    return PayloadAttribution(payload.name, genome.encode_sequence(payload.sequence), scores, matrix, window,
                              float(np.mean(reference_scores)), payload.sites, time.perf_counter() - began)


def attribute_payloads(model_fn: attribution.ModelFn, input_length: int, payloads: Sequence[Payload],
                       reference_fasta: Optional[str], context: Optional[str], construct_length: int, target: Target,
                       method: str = "ism", reverse_complement: bool = False, batch_size: int = 8,
                       on_result: Optional[Callable[[int, PayloadAttribution], None]] = None,
                       mutant_scorers: Optional[attribution.MutantScorerFactory] = None, shifts: int = 1
                       ) -> List[PayloadAttribution]:
    """:func:`attribute_payload` for each payload, spliced into ``context`` of ``reference_fasta``.

    ``on_result(number, result)`` (1-based) is called after each payload (progress);
    ``mutant_scorers`` and ``shifts`` as in :func:`attribute_payload`.

    Raises:
      InputError: ``construct_length`` is shorter than the model window, or the context is not
        in the reference / its flanks run off the chromosome.
    """
    if construct_length < input_length:
        raise genome.InputError(f"construct length {construct_length} is shorter than the {input_length} bp model window")
    left, right = locus_flanks(reference_fasta, context, {p.name: len(p.sequence) for p in payloads}, construct_length)
    results = []
    for number, payload in enumerate(payloads, start=1):
        results.append(attribute_payload(model_fn, input_length, payload, left, right, construct_length, target,
                                         method, reverse_complement, batch_size, mutant_scorers, shifts))
        if on_result is not None:
            on_result(number, results[-1])
    return results


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MotifOptions:
    """Seqlet/clustering parameters (:mod:`.motifs`)."""

    width: int = 11
    threshold: float = 6.0  # robust z of the signed window score sum
    max_shift: int = 3
    min_similarity: float = 0.7
    min_seqlets: int = 3
    min_information: float = 0.5
    max_seqlets_per_payload: Optional[int] = None


def write_npz(path: str, results: Sequence[PayloadAttribution], method: str, target: Target) -> None:
    """``PREFIX.npz`` (module docstring); temporary file then rename."""
    arrays: Dict[str, np.ndarray] = {"payloads": np.array([r.name for r in results]), "method": np.array(method),
                                     "target": np.array(target.label)}
    matrix_key = "deltas" if method == "ism" else "gradient"
    for r in results:
        arrays[f"{r.name}/codes"] = r.codes
        arrays[f"{r.name}/scores"] = r.scores
        arrays[f"{r.name}/{matrix_key}"] = r.matrix
        arrays[f"{r.name}/window_offset"] = np.array(r.window.offset)
        arrays[f"{r.name}/reference_score"] = np.array(r.reference_score)
    temporary = f"{path}.tmp.npz"
    np.savez_compressed(temporary, **arrays)
    os.replace(temporary, path)


def discover_motifs(results: Sequence[PayloadAttribution], options: MotifOptions
                    ) -> Tuple[List[motif_lib.Motif], List[motif_lib.Seqlet]]:
    """Seqlets of every payload (scored bases only) clustered into motifs."""
    thresholds = motif_lib.seqlet_thresholds([r.scores[r.window.first:r.window.last] for r in results],
                                             options.width, options.threshold)
    seqlets: List[motif_lib.Seqlet] = []
    for r in results:
        scored = r.scores.copy()
        scored[~np.isfinite(scored)] = 0.0
        seqlets += motif_lib.extract_seqlets(r.name, scored, genome.one_hot(r.codes), options.width, thresholds,
                                             options.max_shift, options.max_seqlets_per_payload)
    LOG.info("%d seqlets (window score sum <= %.4g or >= %.4g)", len(seqlets), *thresholds)
    found = motif_lib.cluster_seqlets(seqlets, options.min_similarity, options.max_shift, options.min_seqlets)
    return found, seqlets


def write_motifs(prefix: str, found: Sequence[motif_lib.Motif], options: MotifOptions) -> List[str]:
    """``PREFIX.motifs.meme``, ``PREFIX.motifs.tsv`` and one logo per motif; returns the paths."""
    trimmed = [(m.name, motif_lib.trimmed_pwm(m, options.min_information), len(m.members)) for m in found]
    paths = [f"{prefix}.motifs.meme", f"{prefix}.motifs.tsv"]
    motif_lib.write_meme(paths[0], trimmed)
    temporary = f"{paths[1]}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write("motif\tconsensus\tpayload\tstart\tend\tstrand\n")
        for motif, (_, pwm, _) in zip(found, trimmed):
            for payload, start, end, strand in motif.members:
                handle.write(f"{motif.name}\t{motif_lib.consensus(pwm)}\t{payload}\t{start}\t{end}\t"
                             f"{'+' if strand > 0 else '-'}\n")
    os.replace(temporary, paths[1])
    for name, pwm, sites in trimmed:
        paths.append(f"{prefix}.motif.{name}.png")
        plots.motif_figure(paths[-1], name, pwm, sites)
    return paths


def write_report(prefix: str, results: Sequence[PayloadAttribution], method: str, target: Target,
                 motif_options: Optional[MotifOptions] = None, figures: bool = True) -> List[str]:
    """Every output file of the attribution report (module docstring); returns the paths written."""
    parent = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(parent, exist_ok=True)
    paths = [f"{prefix}.bedgraph", f"{prefix}.npz"]
    signal_output.write_base_bedgraph(paths[0], [(r.name, 0, r.scores) for r in results])
    write_npz(paths[1], results, method, target)
    if figures:
        for r in results:
            paths.append(f"{prefix}.{plots.safe_file_name(r.name)}.png")
            plots.payload_figure(paths[-1], r.name, r.scores, genome.one_hot(r.codes), (r.window.first, r.window.last),
                                 r.sites, title=f"{r.name}: {method} attribution of {target.label} "
                                                f"(prediction {r.reference_score:.4g})")
    if motif_options is not None:
        found, _ = discover_motifs(results, motif_options)
        paths += write_motifs(prefix, found, motif_options)
    return paths


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def read_payloads(path: str, names: Optional[Sequence[str]] = None, annotation_bed: Optional[str] = None
                  ) -> List[Payload]:
    """Payloads of a FASTA (all, or ``names`` in that order; ``~`` in a name is looked up as ``_``).

    Raises:
      InputError: a repeated FASTA name, a non-ACGTN character, or requested names absent.
    """
    from components.payload_example_gen.constructs import fasta_key, read_annotations

    wanted = None if names is None else list(dict.fromkeys(fasta_key(name) for name in names))
    sequences: Dict[str, Tuple[str, str]] = {}
    lines: Dict[str, int] = {}
    lengths: Dict[str, int] = {}  # every payload of the FASTA: BED lines of the others are not "unknown"
    for name, sequence, line in genome.iter_fasta(path):
        key = fasta_key(name)
        if key in lines:
            raise genome.InputError(f"{path}:{line}: payload {name!r} appears again (first at line {lines[key]})")
        lines[key] = line
        lengths[key] = len(sequence)
        if wanted is not None and key not in wanted:
            continue
        if not genome.is_plain_dna(sequence):
            position = next(i for i, char in enumerate(sequence) if char not in "ACGTNacgtn")
            raise genome.InputError(f"{path}:{line}: payload {name!r} has {sequence[position]!r} at position "
                                    f"{position + 1}; only A, C, G, T, N are allowed")
        if not sequence:
            raise genome.InputError(f"{path}:{line}: payload {name!r} is empty")
        sequences[key] = (name, sequence)
    order = wanted if wanted is not None else list(sequences)
    absent = [key for key in order if key not in sequences]
    if absent:
        raise genome.InputError(f"{path}: {len(absent)} requested payload(s) not in the FASTA: "
                                f"{genome.format_list(absent)}")
    if not order:
        raise genome.InputError(f"{path}: no payloads")
    sites = read_annotations(annotation_bed, lengths)
    return [Payload(sequences[key][0], sequences[key][1],
                    tuple((site.name, site.start, site.end) for site in sites.get(key, ()))) for key in order]

