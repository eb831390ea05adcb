"""Point mutations for the ``mutate`` edit: the bases with the largest ISM effect inside elements.

For each parent, the construct is spliced as ``make-dataset`` splices it and the centred model
window is scored; in-silico mutagenesis (:func:`components.interpret.attribution.ism_deltas`)
scores every alternative base at every element position inside that window. A mutation's
*gain* is the change of the objective's utility (:func:`.acquisition.utility`):
``utility(score + delta) - utility(score)``. The ``per_element`` mutations of highest positive
gain in each element are kept, best first.

Cost: 3 model windows per element base of each parent, sent ``batch_size`` at a time.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from components import genome
from components.designer.acquisition import Objective, utility
from components.designer.candidates import Parent
from components.interpret.attribution import ism_deltas
from components.payload_example_gen.constructs import build_construct, layout

LOG = logging.getLogger(__name__)
BASES = "ACGT"
ScoreFn = Callable[[np.ndarray], np.ndarray]  # one-hot [B, W, 4] -> [B]


def ranked_mutations(parent: Parent, score_fn: ScoreFn, left_flank: str, right_flank: str, construct_length: int,
                     window_length: int, objective: Objective, per_element: int = 3,
                     batch_size: int = 128) -> List[Tuple[int, str]]:
    """``[(payload position, new base)]`` of ``parent``, best gain first (see module docstring)."""
    codes = genome.encode_sequence(build_construct(parent.sequence, left_flank, right_flank, construct_length))
    offset = (construct_length - window_length) // 2  # the centred window, as serving_default cuts it
    shift = layout(len(parent.sequence), construct_length).shift
    positions = np.array([p for e in parent.elements for p in range(e.start, e.end)
                          if 0 <= p + shift - offset < window_length], dtype=np.int64)
    if positions.size == 0:
        return []
    window = genome.one_hot(codes[offset:offset + window_length])
    deltas = ism_deltas(score_fn, window, batch_size, positions=positions + shift - offset)  # [P, 4]
    reference = float(np.asarray(score_fn(window[None]), np.float64).reshape(-1)[0])
    gains = utility(reference + deltas, objective) - utility(np.array([reference]), objective)[0]
    is_reference = window[positions + shift - offset] > 0.5
    gains = np.where(is_reference, -np.inf, gains)
    chosen: List[Tuple[float, int, str]] = []
    for element in parent.elements:
        inside = (positions >= element.start) & (positions < element.end)
        rows = np.flatnonzero(inside)
        if rows.size == 0:
            continue
        flat = gains[rows].ravel()
        for index in np.argsort(-flat, kind="stable")[:per_element]:
            if flat[index] > 0:
                row, base = divmod(int(index), 4)
                chosen.append((float(flat[index]), int(positions[rows[row]]), BASES[base]))
    chosen.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [(position, base) for _, position, base in chosen]


def parent_mutations(parents: Sequence[Parent], score_fn: ScoreFn, left_flank: str, right_flank: str,
                     construct_length: int, window_length: int, objective: Objective,
                     per_element: int = 3, batch_size: int = 128) -> Dict[str, List[Tuple[int, str]]]:
    """:func:`ranked_mutations` of every parent, by parent name."""
    found = {}
    for index, parent in enumerate(parents, start=1):
        found[parent.name] = ranked_mutations(parent, score_fn, left_flank, right_flank, construct_length,
                                              window_length, objective, per_element, batch_size)
        LOG.info("ISM %d/%d: %s, %d improving mutation(s) kept", index, len(parents), parent.name,
                 len(found[parent.name]))
    return found
