"""The design run shared by ``enformer-tfx design`` and the Designer component.

:func:`prepare` reads and validates every input and generates the candidates (no model, no
output); the caller scores them (:mod:`.scoring`) with its model; :func:`propose` applies the
acquisition rule; :func:`write_outputs` writes the four files atomically:

* ``PREFIX.fa``: the proposed payloads (FASTA names use ``_`` for ``~``);
* ``PREFIX.tsv``: ``rank name parent edits predicted sd acquisition`` (``sd`` = ``NA``
  without an ensemble; ``acquisition`` = the value the pick was ranked by);
* ``PREFIX.annotation.bed``: the proposals' sites in their own coordinates, in the input
  BED's format (``payload start end label 0 strand``);
* ``PREFIX.activity.tsv``: an activity table in the input format with ``NA`` values, one row
  per proposal, for the lab to fill in; in ``batch-{SPAN}/`` it becomes the next span.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from components import genome
from components.designer import acquisition, candidates as candidates_lib
from components.designer.candidates import Candidate
from components.errors import InputError
from components.payload_example_gen.constructs import NAME_COLUMN, fasta_key, locus_flanks
from components.payload_example_gen.params import DEFAULT_CONSTRUCT_LENGTH

OUTPUT_SUFFIXES = (".fa", ".tsv", ".annotation.bed", ".activity.tsv")
TABLE_COLUMNS = ("rank", "name", "parent", "edits", "predicted", "sd", "acquisition")


# Parameters of the Designer component (config ``design:`` keys) and those a config may inherit
# from ``payloads:``; kept here, free of TFX, so configs are checked before TFX loads (a test ties
# them to ``components.designer.component.Designer``).
DESIGN_INPUTS = ("payload_fasta", "annotation_bed", "reference_fasta", "context", "construct_length")
COMPONENT_PARAMETERS = DESIGN_INPUTS + (
    "output_location", "parents", "edits", "max_edits", "candidates", "batch_size", "acquisition", "beta",
    "diversity", "objective", "seed", "shifts", "reverse_complement", "predict_batch", "group")


@dataclasses.dataclass(frozen=True)
class DesignOptions:
    """Everything but the inputs and the model (defaults = the command's)."""

    parents: Optional[Tuple[str, ...]] = None
    edits: Tuple[str, ...] = candidates_lib.DEFAULT_EDIT_KINDS
    max_edits: int = 2
    candidates: int = 5000
    batch_size: int = 40
    acquisition: str = "greedy"
    beta: float = 1.0
    diversity: float = 1.0
    objective: str = "max"
    seed: int = 0
    construct_length: int = DEFAULT_CONSTRUCT_LENGTH
    shifts: int = 3
    reverse_complement: bool = True
    group: str = "design"
    mutations_per_element: int = 3  # mutate: best ISM mutations kept per element

    def validate(self) -> acquisition.Objective:
        """Check option values; returns the parsed objective."""
        objective = acquisition.parse_objective(self.objective)
        if self.acquisition not in acquisition.ACQUISITIONS:
            raise InputError(f"--acquisition {self.acquisition!r}: expected one of {', '.join(acquisition.ACQUISITIONS)}")
        candidates_lib.parse_edits(",".join(self.edits))
        for name in ("max_edits", "candidates", "batch_size", "shifts"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.beta < 0 or self.diversity < 0:
            raise InputError("--beta and --diversity must be >= 0")
        if self.construct_length < 128:
            raise InputError(f"--length {self.construct_length}: a construct needs at least one 128 bp bin")
        if not self.group or any(c.isspace() for c in self.group):
            raise InputError(f"--group {self.group!r}: needs a non-empty name without whitespace")
        return objective


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Validated candidates and the locus flanks to splice them into."""

    candidates: List[Candidate]
    left_flank: str
    right_flank: str
    objective: acquisition.Objective


@dataclasses.dataclass(frozen=True)
class Proposal:
    rank: int
    candidate: Candidate
    predicted: float
    sd: Optional[float]
    score: float


def prepare(payload_fasta: str, annotation_bed: str, reference_fasta: str, context: str,
            options: DesignOptions, score_fn: Optional[Callable[[np.ndarray], np.ndarray]] = None,
            window_length: Optional[int] = None) -> Prepared:
    """Validate inputs and options, generate candidates, fetch the flanks (raises InputError).

    ``score_fn`` (one-hot ``[B, window_length, 4]`` -> activity ``[B]``) is needed only for
    ``mutate``, which ranks point mutations by ISM on each parent.
    """
    objective = options.validate()
    parents = candidates_lib.read_parents(payload_fasta, annotation_bed, options.parents)
    mutations = None
    if "mutate" in options.edits:
        if score_fn is None or window_length is None:
            raise ValueError("mutate needs the model's score function and window length")
        from components.designer.mutations import parent_mutations  # imports the ISM code only when used

        left, right = locus_flanks(reference_fasta, context, {p.name: len(p.sequence) for p in parents},
                                   options.construct_length)
        mutations = parent_mutations(parents, score_fn, left, right, options.construct_length, window_length,
                                     objective, options.mutations_per_element)
    assayed = (sequence for _, sequence, _ in genome.iter_fasta(payload_fasta))
    found = candidates_lib.generate_candidates(parents, options.edits, options.candidates, options.max_edits,
                                               options.seed, exclude_sequences=assayed, mutations=mutations)
    if not found:
        raise InputError(f"no candidate differs from the payloads of {payload_fasta}: every edit of the parents "
                         "reproduces an existing payload")
    left, right = locus_flanks(reference_fasta, context, {c.name: len(c.sequence) for c in found},
                               options.construct_length)
    return Prepared(found, left, right, objective)


def propose(prepared: Prepared, mean: np.ndarray, sd: Optional[np.ndarray], options: DesignOptions) -> List[Proposal]:
    """The batch chosen by ``options.acquisition`` from ``[N]`` predictions, best first."""
    picks, scores = acquisition.select_batch(
        mean, sd, [c.edit_keys for c in prepared.candidates], prepared.objective, options.acquisition,
        options.batch_size, options.beta, options.diversity)
    return [Proposal(rank, prepared.candidates[i], float(mean[i]), None if sd is None else float(sd[i]), float(score))
            for rank, (i, score) in enumerate(zip(picks.tolist(), scores.tolist()), start=1)]


def output_paths(prefix: str) -> List[str]:
    return [prefix + suffix for suffix in OUTPUT_SUFFIXES]


def check_prefix(prefix: str) -> None:
    """InputError unless the prefix's directory exists (checked before any work)."""
    directory = os.path.dirname(os.path.abspath(prefix))
    if not os.path.isdir(directory):
        raise InputError(f"--output {prefix}: directory {directory} does not exist")


def _lines(proposals: Sequence[Proposal], group: str) -> List[List[str]]:
    """Contents of the four files, in OUTPUT_SUFFIXES order."""
    fasta, table, bed, activity = [], ["\t".join(TABLE_COLUMNS) + "\n"], [], [
        f"{NAME_COLUMN}\tgroups\tfoldchange\tactivity\n"]
    for p in proposals:
        c = p.candidate
        key = fasta_key(c.name)
        fasta.append(f">{key}\n")
        fasta.extend(c.sequence[i:i + 60] + "\n" for i in range(0, len(c.sequence), 60))
        sd = "NA" if p.sd is None else f"{p.sd:.6g}"
        table.append(f"{p.rank}\t{c.name}\t{c.parent}\t{c.edit_text}\t{p.predicted:.6g}\t{sd}\t{p.score:.6g}\n")
        bed.extend(f"{key}\t{s.start}\t{s.end}\t{s.name}\t0\t{s.strand}\n" for s in c.sites)
        activity.append(f"{c.name}\t{group}\tNA\tNA\n")
    return [fasta, table, bed, activity]


def write_outputs(prefix: str, proposals: Sequence[Proposal], group: str = "design") -> List[str]:
    """Write the four files (temp files first, renamed only when all are written)."""
    paths = output_paths(prefix)
    temps = [f"{path}.tmp-{os.getpid()}" for path in paths]
    try:
        for temp, lines in zip(temps, _lines(proposals, group)):
            with open(temp, "w", encoding="utf-8") as handle:
                handle.writelines(lines)
        for temp, path in zip(temps, paths):
            os.replace(temp, path)
    finally:
        for temp in temps:
            if os.path.exists(temp):
                os.remove(temp)
    return paths
