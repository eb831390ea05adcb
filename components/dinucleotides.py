"""Dinucleotide-preserving backgrounds: the Altschul-Erickson shuffle and first-order Markov draws.

* :func:`dinucleotide_shuffle` permutes a sequence keeping its first and last symbol and every
  dinucleotide count (a random Eulerian walk on the graph whose vertices are the symbols and
  whose edges are the sequence's dinucleotides).
* :func:`markov_sequence` draws a new sequence from dinucleotide frequencies
  (:func:`read_dinucleotide_frequencies`): the first base from the frequencies' marginal, every
  next base from ``P(b | a) = f(ab) / sum_x f(ax)``.

Both work on any integer symbols (uint8 codes A0 C1 G2 T3 N4 here; the designer passes the
characters of a string, so case is kept) and draw only from the generator passed in.
"""
from __future__ import annotations

import itertools
from typing import Dict, List, Mapping

import numpy as np

from components.errors import InputError
from components.genome import open_text

BASES = "ACGT"
DINUCLEOTIDES = tuple("".join(pair) for pair in itertools.product(BASES, repeat=2))


def dinucleotide_shuffle(symbols: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``[L]`` symbols -> ``[L]`` random permutation with the same dinucleotide counts and end symbols.

    Each symbol's last outgoing edge is drawn so that the last edges form a tree leading to the
    final symbol (rejection sampling; this guarantees the walk uses every edge); its other edges
    are visited in a random order. Symbols are visited in order of first appearance, so the
    generator is consumed the same way for the same sequence.
    """
    symbols = np.asarray(symbols)
    if symbols.ndim != 1:
        raise ValueError(f"dinucleotide_shuffle expects a 1-D sequence, got shape {symbols.shape}")
    if symbols.size < 3:
        return symbols.copy()
    sequence = symbols.tolist()
    successors: Dict[int, List[int]] = {}
    for a, b in zip(sequence, sequence[1:]):
        successors.setdefault(a, []).append(b)
    last = sequence[-1]
    while True:
        last_edge = {base: int(rng.integers(len(edges))) for base, edges in successors.items() if base != last}
        if all(_reaches(base, last, last_edge, successors) for base in last_edge):
            break
    order: Dict[int, List[int]] = {}
    for base, edges in successors.items():
        if base == last:
            order[base] = [edges[i] for i in rng.permutation(len(edges))]
            continue
        keep = edges[last_edge[base]]
        rest = edges[:last_edge[base]] + edges[last_edge[base] + 1:]
        order[base] = [rest[i] for i in rng.permutation(len(rest))] + [keep]
    walk = [sequence[0]]
    position = {base: 0 for base in order}
    for _ in range(len(sequence) - 1):
        here = walk[-1]
        walk.append(order[here][position[here]])
        position[here] += 1
    return np.asarray(walk, dtype=symbols.dtype)


def _reaches(base: int, last: int, last_edge: Mapping[int, int], successors: Mapping[int, List[int]]) -> bool:
    seen = set()
    while base != last:
        if base in seen:
            return False
        seen.add(base)
        base = successors[base][last_edge[base]]
    return True


def dinucleotide_counts(codes: np.ndarray, alphabet: int = 5) -> np.ndarray:
    """``[L]`` codes in ``0..alphabet-1`` -> ``[alphabet, alphabet]`` counts of ``(codes[i], codes[i+1])``."""
    codes = np.asarray(codes, dtype=np.int64)
    counts = np.zeros((alphabet, alphabet), dtype=np.int64)
    np.add.at(counts, (codes[:-1], codes[1:]), 1)
    return counts


def read_dinucleotide_frequencies(path: str) -> np.ndarray:
    """TSV ``dinucleotide<TAB>frequency`` (16 rows, AA..TT, any order; ``#`` lines and a non-numeric
    header skipped; weights need not sum to 1) -> ``[4, 4]`` float64 normalised to sum 1.

    Raises :class:`InputError` naming ``path:line`` for a malformed row, an unknown or repeated
    dinucleotide, a negative or non-finite weight, a missing dinucleotide, or a first base whose
    weights are all zero while others lead to it (the chain would have nowhere to go).
    """
    table = np.full((4, 4), np.nan)
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = text.split("\t") if "\t" in text else text.split()
            if len(fields) != 2:
                raise InputError(f"{path}:{number}: expected 'dinucleotide<TAB>frequency', got {text!r}")
            pair, value = fields[0].upper(), fields[1]
            try:
                weight = float(value)
            except ValueError:
                if number == 1 or all(np.isnan(table.ravel())):
                    continue  # a header line
                raise InputError(f"{path}:{number}: frequency {value!r} is not a number") from None
            if pair not in DINUCLEOTIDES:
                raise InputError(f"{path}:{number}: {fields[0]!r} is not a dinucleotide of {BASES}")
            row, column = BASES.index(pair[0]), BASES.index(pair[1])
            if not np.isnan(table[row, column]):
                raise InputError(f"{path}:{number}: dinucleotide {pair} given twice")
            if not np.isfinite(weight) or weight < 0:
                raise InputError(f"{path}:{number}: frequency of {pair} must be finite and >= 0, got {value}")
            table[row, column] = weight
    missing = [pair for pair, value in zip(DINUCLEOTIDES, table.ravel()) if np.isnan(value)]
    if missing:
        raise InputError(f"{path}: missing dinucleotide frequencies for {', '.join(missing)} (16 rows AA..TT needed)")
    if table.sum() <= 0:
        raise InputError(f"{path}: every dinucleotide frequency is 0")
    dead = [BASES[i] for i in range(4) if table[i].sum() == 0 and table[:, i].sum() > 0]
    if dead:
        raise InputError(f"{path}: no dinucleotide starts with {', '.join(dead)} although some end with it: "
                         "the sequence could not continue")
    return table / table.sum()


def markov_sequence(frequencies: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``[4, 4]`` dinucleotide frequencies -> ``[length]`` uint8 codes (A0 C1 G2 T3) of a first-order Markov chain."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    first = frequencies.sum(axis=1)
    first = first / first.sum()
    rows = frequencies.sum(axis=1, keepdims=True)
    transitions = np.divide(frequencies, rows, out=np.full_like(frequencies, 0.25), where=rows > 0)
    cumulative = np.cumsum(transitions, axis=1)
    cumulative[:, -1] = 1.0  # rounding must not leave a gap above the last threshold
    draws = rng.random(length)
    codes = np.empty(length, dtype=np.uint8)
    if length == 0:
        return codes
    here = int(np.searchsorted(np.cumsum(first), draws[0], side="right"))
    codes[0] = min(here, 3)
    for i in range(1, length):
        here = int(np.searchsorted(cumulative[here], draws[i], side="right"))
        codes[i] = here
    return codes
