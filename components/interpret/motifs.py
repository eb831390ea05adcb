"""Motif discovery on per-base attributions: seqlets, greedy PWM clustering, MEME output.

A deliberately simple, deterministic method (TF-MoDISco's outline without its statistics):

1. **Seqlets** (:func:`extract_seqlets`): for every payload, the signed sum of the scores over
   each ``width``-bp window; windows are taken greedily, largest ``|sum|`` first, without
   overlap, while the sum lies outside a band around the typical window. The band
   (:func:`seqlet_thresholds`) is robust to the motif bases themselves: ``median -/+ k * 1.4826
   * MAD`` of all window sums of all payloads. A seqlet's sign is the sign of its sum
   (activating vs repressing bases). Signed sums, as TF-MoDISco uses, let background scores of
   both signs cancel, so a weak repressor stands out of the noise where a sum of ``|score|``
   (which adds the noise up) buries it under the threshold set by the strong activators.
2. **Clustering** (:func:`cluster_seqlets`): seqlets in decreasing importance; each joins the
   most similar existing cluster of the same sign if the similarity reaches ``min_similarity``,
   else it starts a new one. Similarity of a seqlet to a cluster is the best over both strands
   and shifts of up to ``max_shift`` bp of ``sum_columns sum_b min(seqlet, pwm) / width`` -- the
   mean probability mass two position matrices share (1 = identical one-hot columns). A shifted
   seqlet is re-read from its payload, so every cluster member contributes a full ``width``
   columns in the cluster's frame.
3. **Motifs**: clusters with at least ``min_seqlets`` members; their position frequency matrix
   is trimmed to the span of columns whose information content reaches ``min_information``
   bits, and written as MEME-format letter-probability matrices (:func:`write_meme`).

Ties are broken by payload order and position, so the output depends only on the inputs.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

ALPHABET = "ACGT"


@dataclasses.dataclass(frozen=True)
class Seqlet:
    """A high-attribution window ``[start, end)`` of payload ``payload`` (payload coordinates).

    ``context``: one-hot ``[width + 2 * pad, 4]`` around it (zero rows beyond the payload), so
    shifted alignments can re-read the neighbouring bases.
    """

    payload: str
    start: int
    end: int
    sign: int
    importance: float
    context: np.ndarray
    pad: int


@dataclasses.dataclass
class Motif:
    """A cluster of aligned seqlets. ``members``: ``(payload, start, end, strand)``."""

    name: str
    sign: int
    counts: np.ndarray  # [width, 4] summed aligned one-hot
    members: List[Tuple[str, int, int, int]]
    importance: float

    @property
    def frequencies(self) -> np.ndarray:
        """``[width, 4]`` position frequency matrix (untrimmed)."""
        totals = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, totals, out=np.full_like(self.counts, 0.25), where=totals > 0)


def window_sums(values: np.ndarray, width: int) -> np.ndarray:
    """``[P - width + 1]`` sums of ``values`` over every ``width``-bp window (NaN counts as 0)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    if values.size < width:
        return np.zeros(0)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    return cumulative[width:] - cumulative[:-width]


def seqlet_thresholds(score_tracks: Iterable[np.ndarray], width: int, k: float) -> Tuple[float, float]:
    """``(low, high) = median -/+ k * 1.4826 * MAD`` of the signed window sums of all payloads."""
    sums = np.concatenate([window_sums(scores, width) for scores in score_tracks] or [np.zeros(0)])
    if sums.size == 0:
        return -float("inf"), float("inf")
    median = float(np.median(sums))
    spread = k * max(float(np.median(np.abs(sums - median))) * 1.4826, 1e-12)
    return median - spread, median + spread


def _context(one_hot: np.ndarray, start: int, end: int, pad: int) -> np.ndarray:
    out = np.zeros((end - start + 2 * pad, 4), dtype=np.float32)
    low, high = max(0, start - pad), min(one_hot.shape[0], end + pad)
    out[low - (start - pad): high - (start - pad)] = one_hot[low:high]
    return out


def extract_seqlets(payload: str, scores: np.ndarray, one_hot: np.ndarray, width: int,
                    thresholds: Tuple[float, float], pad: int, max_seqlets: Optional[int] = None) -> List[Seqlet]:
    """Non-overlapping ``width``-bp windows whose signed score sum is ``<= low`` or ``>= high``, largest ``|sum|`` first.

    Args:
      scores: ``[P]`` per-base attribution of the payload (NaN = not scored).
      one_hot: ``[P, 4]`` payload sequence.
      thresholds: ``(low, high)`` from :func:`seqlet_thresholds`.
      pad: context bases kept either side (the largest alignment shift).
    """
    low, high = thresholds
    sums = window_sums(scores, width)
    candidates = np.flatnonzero((sums <= low) | (sums >= high))  # only these can become seqlets
    available = np.ones(sums.size, dtype=bool)
    seqlets: List[Seqlet] = []
    for start in candidates[np.argsort(-np.abs(sums[candidates]), kind="stable")]:
        if max_seqlets is not None and len(seqlets) >= max_seqlets:
            break
        if not available[start]:
            continue
        start = int(start)
        available[max(0, start - width + 1): start + width] = False
        seqlets.append(Seqlet(payload, start, start + width, 1 if sums[start] >= 0 else -1, float(abs(sums[start])),
                              _context(one_hot, start, start + width, pad), pad))
    return sorted(seqlets, key=lambda s: s.start)


def _oriented(seqlet: Seqlet, strand: int) -> np.ndarray:
    return seqlet.context if strand == 1 else seqlet.context[::-1, ::-1]  # A,C,G,T: complement = reversed


def _best_alignment(seqlet: Seqlet, pwm: np.ndarray, max_shift: int) -> Tuple[float, int, int]:
    """``(similarity, shift, strand)`` of the seqlet's best full-width alignment onto ``pwm``."""
    width = pwm.shape[0]
    best = (-1.0, 0, 1)
    for strand in (1, -1):
        oriented = _oriented(seqlet, strand)
        for shift in range(-max_shift, max_shift + 1):
            rows = oriented[seqlet.pad + shift: seqlet.pad + shift + width]
            similarity = float(np.minimum(rows, pwm).sum()) / width
            if similarity > best[0] + 1e-12:
                best = (similarity, shift, strand)
    return best


def cluster_seqlets(seqlets: Sequence[Seqlet], min_similarity: float = 0.7, max_shift: int = 3,
                    min_seqlets: int = 3) -> List[Motif]:
    """Greedy clustering (module docstring); motifs ordered by summed importance, named by sign."""
    if any(s.pad < max_shift for s in seqlets):
        raise ValueError("seqlet context must be at least max_shift bp on each side")
    order = sorted(range(len(seqlets)), key=lambda i: (-seqlets[i].importance, i))
    clusters: List[Motif] = []
    for index in order:
        seqlet = seqlets[index]
        width = seqlet.end - seqlet.start
        best: Tuple[float, int, int, Optional[Motif]] = (-1.0, 0, 1, None)
        for cluster in clusters:
            if cluster.sign != seqlet.sign:
                continue
            similarity, shift, strand = _best_alignment(seqlet, cluster.frequencies, max_shift)
            if similarity > best[0] + 1e-12:
                best = (similarity, shift, strand, cluster)
        similarity, shift, strand, cluster = best
        if cluster is None or similarity < min_similarity:
            cluster = Motif("", seqlet.sign, np.zeros((width, 4)), [], 0.0)
            clusters.append(cluster)
            shift, strand = 0, 1
        rows = _oriented(seqlet, strand)[seqlet.pad + shift: seqlet.pad + shift + width]
        cluster.counts = cluster.counts + rows
        start = seqlet.start + shift if strand == 1 else seqlet.start - shift
        cluster.members.append((seqlet.payload, start, start + width, strand))
        cluster.importance += seqlet.importance
    kept = sorted((c for c in clusters if len(c.members) >= min_seqlets), key=lambda c: -c.importance)
    counters = {1: 0, -1: 0}
    for cluster in kept:
        counters[cluster.sign] += 1
        cluster.name = f"{'pos' if cluster.sign > 0 else 'neg'}_{counters[cluster.sign]}"
    return kept


def information_content(frequencies: np.ndarray) -> np.ndarray:
    """``[W]`` bits per column against a uniform background (0..2)."""
    p = np.clip(np.asarray(frequencies, dtype=np.float64), 1e-12, 1.0)
    return 2.0 + (np.asarray(frequencies) * np.log2(p)).sum(axis=1)


def trimmed_pwm(motif: Motif, min_information: float = 0.5) -> np.ndarray:
    """The motif's frequency matrix cut to the first..last column with ``>= min_information`` bits."""
    frequencies = motif.frequencies
    informative = np.nonzero(information_content(frequencies) >= min_information)[0]
    if informative.size == 0:
        return frequencies
    return frequencies[informative[0]: informative[-1] + 1]


def consensus(pwm: np.ndarray) -> str:
    return "".join(ALPHABET[i] for i in np.argmax(pwm, axis=1))


def pwm_similarity(query: np.ndarray, target: np.ndarray) -> float:
    """Best alignment of ``query`` onto ``target`` over both strands and all overlaps.

    ``sum over aligned columns of sum_b min(query, target) / len(target)``: the share of the
    target's probability mass the query reproduces; target columns left uncovered count 0. With
    a one-hot ``target`` (a known consensus) it is the mean probability the query gives the
    target's bases.
    """
    best = 0.0
    for oriented in (query, query[::-1, ::-1]):
        for offset in range(-oriented.shape[0] + 1, target.shape[0]):  # query column 0 at target column offset
            low, high = max(0, offset), min(target.shape[0], offset + oriented.shape[0])
            shared = np.minimum(oriented[low - offset: high - offset], target[low:high]).sum()
            best = max(best, float(shared) / target.shape[0])
    return best


def write_meme(path: str, motifs: Sequence[Tuple[str, np.ndarray, int]]) -> None:
    """MEME minimal format: ``(name, pwm [W, 4], number of sites)`` per motif; temp file then rename."""
    lines = ["MEME version 4", "", f"ALPHABET= {ALPHABET}", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for name, pwm, sites in motifs:
        lines += [f"MOTIF {name} {consensus(pwm)}",
                  f"letter-probability matrix: alength= 4 w= {pwm.shape[0]} nsites= {sites} E= 0"]
        lines += [" ".join(f"{value:.6f}" for value in row) for row in pwm]
        lines.append("")
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write("\n".join(lines))
    os.replace(temporary, path)


def read_meme(path: str) -> Dict[str, np.ndarray]:
    """``{name: pwm [W, 4]}`` of a MEME file written by :func:`write_meme` (or any minimal MEME)."""
    motifs: Dict[str, np.ndarray] = {}
    name, rows, expected = None, [], 0
    with open(path, encoding="ascii") as handle:
        for line in handle:
            fields = line.split()
            if fields[:1] == ["MOTIF"]:
                name, rows = fields[1], []
            elif line.startswith("letter-probability matrix"):
                expected = int(line.split("w=")[1].split()[0])
            elif name is not None and len(fields) == 4 and len(rows) < expected:
                rows.append([float(value) for value in fields])
                if len(rows) == expected:
                    motifs[name] = np.array(rows)
    return motifs
