"""Attribution of a scalar model score to every base of a window.

Conventions
-----------
* A *score function* maps one-hot windows ``[B, L, 4]`` float32 (A,C,G,T; N = all-zero row) to
  one score per window ``[B]``. Any callable returning something ``np.asarray`` accepts works
  for ISM; gradient x input needs a TensorFlow-differentiable one (see
  :func:`output_score_fn`).
* ISM (:func:`ism_deltas`): for each requested position ``i`` and base ``b``,
  ``deltas[i, b] = score(window with base b at i) - score(window)``; the reference base's entry
  is 0 (not evaluated). An N position (zero row) is evaluated with all four bases. Mutants go
  through the score function ``batch_size`` at a time, never one per call.
* Per-base ISM score (:func:`ism_scores`): ``score(reference) - mean over the alternatives`` =
  ``-mean(deltas over the non-reference bases)``: positive where the reference base raises the
  prediction.
* Gradient x input (:func:`gradient_x_input`): ``d score / d one_hot`` in one backward pass per
  batch; the per-base score is ``sum_b gradient[i, b] * one_hot[i, b]`` (the gradient at the
  reference base; 0 at N).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

LOG = logging.getLogger(__name__)

ScoreFn = Callable[[Any], Any]  # one-hot [B, L, 4] float32 -> [B]
ModelFn = Callable[[Any], Dict[str, Any]]  # one-hot [B, L, 4] -> {name: [B] or [B, bins, T]}

ACTIVITY = "activity"  # the payload head's output name in every model signature


def _scores(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def mutant_pairs(one_hot: np.ndarray, positions: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(row, base)`` of every single-base mutant: 3 per ACGT position, 4 per N position.

    ``row`` indexes ``positions``; pairs come position-major, bases in A,C,G,T order.
    """
    reference = one_hot[positions] > 0.5  # [P, 4]; all False at N
    rows, bases = np.nonzero(~reference)
    return rows.astype(np.int64), bases.astype(np.int64)


MutantScoreFn = Callable[[np.ndarray, np.ndarray], Any]  # (positions [B], rows [B, 4]) -> [B]
# (window one-hot [L, 4], output, bins, column, reverse_complement) -> mutant scorer of that window
MutantScorerFactory = Callable[[np.ndarray, str, Optional[Tuple[int, int]], int, bool], MutantScoreFn]


def window_mutant_scorer(score_fn: ScoreFn, one_hot: np.ndarray) -> MutantScoreFn:
    """Mutant scorer that materialises every mutant window and scores it with ``score_fn``.

    The returned callable maps ``(positions [B] int, rows [B, 4] float32)`` -- window
    position ``positions[k]`` set to one-hot row ``rows[k]`` -- to ``[B]`` scores.
    """
    def score(positions: np.ndarray, rows: np.ndarray) -> Any:
        batch = np.repeat(one_hot[None], len(positions), axis=0)
        batch[np.arange(len(positions)), positions] = rows
        return score_fn(batch)

    return score


def ism_deltas(score_fn: Optional[ScoreFn], one_hot: np.ndarray, batch_size: int = 8,
               positions: Optional[Sequence[int]] = None,
               progress: Optional[Callable[[int, int], None]] = None,
               mutant_scorer: Optional[MutantScoreFn] = None) -> np.ndarray:
    """Batched in-silico mutagenesis of one window.

    Args:
      score_fn: ``[B, L, 4] -> [B]`` (used when ``mutant_scorer`` is None).
      one_hot: ``[L, 4]`` float32 reference window.
      batch_size: mutants per call.
      positions: window positions to mutate (default all ``L``).
      progress: called with ``(mutants done, mutants total)`` after every batch.
      mutant_scorer: ``(positions [B], rows [B, 4]) -> [B]`` scores of single-base mutants of
        ``one_hot`` (e.g. a local-recomputation scorer that never builds whole windows); the
        reference score is its score of a null mutant (position 0 set to its own row).
    Returns:
      ``[P, 4]`` float64 ``score(mutant) - score(reference)`` for the ``P`` positions (0 at the
      reference base).
    """
    one_hot = np.asarray(one_hot, dtype=np.float32)
    if one_hot.ndim != 2 or one_hot.shape[1] != 4:
        raise ValueError(f"one_hot must be [L, 4], got {one_hot.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if mutant_scorer is None:
        if score_fn is None:
            raise ValueError("ism_deltas needs a score_fn or a mutant_scorer")
        mutant_scorer = window_mutant_scorer(score_fn, one_hot)
    positions = np.arange(one_hot.shape[0]) if positions is None else np.asarray(positions, dtype=np.int64)
    reference_score = float(_scores(mutant_scorer(np.zeros(1, np.int64), one_hot[:1]))[0])
    rows, bases = mutant_pairs(one_hot, positions)
    alternatives = np.eye(4, dtype=np.float32)
    deltas = np.zeros((positions.size, 4), dtype=np.float64)
    for start in range(0, rows.size, batch_size):
        chunk_rows, chunk_bases = rows[start:start + batch_size], bases[start:start + batch_size]
        scores = _scores(mutant_scorer(positions[chunk_rows], alternatives[chunk_bases]))
        deltas[chunk_rows, chunk_bases] = scores - reference_score
        if progress is not None:
            progress(min(start + batch_size, rows.size), rows.size)
    return deltas


def ism_scores(deltas: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``[P]`` per-base score ``score(reference) - mean over the alternatives``.

    Args:
      deltas: ``[P, 4]`` from :func:`ism_deltas`.
      reference: ``[P, 4]`` one-hot rows of the mutated positions.
    """
    alternatives = (np.asarray(reference) < 0.5).astype(np.float64)  # 3 per base, 4 at N
    return -(deltas * alternatives).sum(axis=1) / alternatives.sum(axis=1)


def gradient_x_input(score_fn: ScoreFn, one_hot: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Gradient of the score w.r.t. the one-hot input, one backward pass for the batch.

    Args:
      score_fn: TensorFlow-differentiable ``[B, L, 4] -> [B]``.
      one_hot: ``[B, L, 4]`` float32.
    Returns:
      ``(gradient [B, L, 4], per-base score [B, L])`` with score = gradient x input summed
      over bases.
    """
    import tensorflow as tf

    inputs = tf.constant(np.asarray(one_hot, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        total = tf.reduce_sum(score_fn(inputs))  # windows are independent: one pass for all
    gradient = tape.gradient(total, inputs)
    if gradient is None:
        raise ValueError("the score function is not differentiable with respect to its input")
    gradient = gradient.numpy().astype(np.float64)
    return gradient, (gradient * np.asarray(one_hot, dtype=np.float64)).sum(axis=-1)


def reduce_output(values: Any, output: str, bins: Optional[Tuple[int, int]] = None, column: int = 0,
                  flip: bool = False) -> Any:
    """One model output -> ``[B]`` score (TensorFlow): ``activity`` as is, a binned output
    ``[B, bins, T]`` as the mean of ``column`` over ``bins`` (after flipping the bin axis of a
    reverse-strand prediction when ``flip``)."""
    import tensorflow as tf

    if output == ACTIVITY or values.shape.rank == 1:
        return tf.reshape(values, [-1])
    track = values[:, :, column]
    if flip:
        track = tf.reverse(track, axis=[1])
    if bins is not None:
        track = track[:, bins[0]:bins[1]]
    return tf.reduce_mean(track, axis=1)


def output_score_fn(model_fn: ModelFn, input_length: int, output: str, bins: Optional[Tuple[int, int]] = None,
                    column: int = 0, reverse_complement: bool = False) -> ScoreFn:
    """Compiled, differentiable score ``[B, L, 4] -> [B]`` over one output of ``model_fn``.

    Args:
      model_fn: ``one_hot [B, L, 4] -> {name: [B] or [B, bins, T]}`` (a Predictor's compiled
        function, or a SavedModel's ``predict_one_hot`` signature wrapped to take a tensor).
      output: ``activity`` (the score is that value) or a binned output (the score is the mean
        of ``column`` over bins ``[bins[0], bins[1])``; default all bins).
      reverse_complement: average with the reverse-complement window, both in one call (A,C,G,T
        order: complement = reversing the base axis); binned outputs of the reverse strand are
        flipped back first, so the bin range means the same bases on both strands.
    """
    import tensorflow as tf

    def reduce(values: tf.Tensor, flip: bool) -> tf.Tensor:
        return reduce_output(values, output, bins, column, flip)

    def score(one_hot: tf.Tensor) -> tf.Tensor:
        if not reverse_complement:
            return reduce(model_fn(one_hot)[output], flip=False)
        n = tf.shape(one_hot)[0]
        both = tf.concat([one_hot, tf.reverse(one_hot, axis=[1, 2])], axis=0)
        values = model_fn(both)[output]
        return (reduce(values[:n], flip=False) + reduce(values[n:], flip=True)) / 2.0

    return tf.function(score, input_signature=[tf.TensorSpec([None, input_length, 4], tf.float32)],
                       autograph=False)


# --------------------------------------------------------------------------------------------
# Where a payload sits in the model window
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PayloadWindow:
    """A model window centred on a payload spliced into a construct.

    ``start``: window start in construct coordinates; ``shift``: construct coordinate minus
    payload coordinate; ``first``/``last``: payload bases ``[first, last)`` inside the window
    (the only ones that get scores).
    """

    start: int
    length: int
    shift: int
    first: int
    last: int

    @property
    def positions(self) -> np.ndarray:
        """``[last - first]`` window positions of the scored payload bases."""
        return np.arange(self.first, self.last) + self.shift - self.start

    @property
    def offset(self) -> int:
        """Payload coordinate of window position 0."""
        return self.start - self.shift

    def bins(self, bin_size: int) -> Tuple[int, int]:
        """Output bins ``[lo, hi)`` overlapping the scored payload bases."""
        first, last = self.first - self.offset, self.last - self.offset
        return first // bin_size, -(-last // bin_size)


def centred_window(payload_length: int, shift: int, construct_length: int, window_length: int) -> PayloadWindow:
    """Window of ``window_length`` bp centred on the payload, kept inside the construct.

    ``shift`` is the construct coordinate of payload base 0 (``Layout.shift``; negative when a
    long payload was centre-trimmed).
    """
    if window_length > construct_length:
        raise ValueError(f"window {window_length} bp is longer than the construct ({construct_length} bp)")
    centre = shift + payload_length // 2
    start = int(np.clip(centre - window_length // 2, 0, construct_length - window_length))
    first = max(0, start - shift)
    last = min(payload_length, start + window_length - shift)
    return PayloadWindow(start, window_length, shift, first, last)


# --------------------------------------------------------------------------------------------
# Validation helper
# --------------------------------------------------------------------------------------------
def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for boolean ``labels`` (ties count one half).

    Mann-Whitney form: the probability that a random positive outscores a random negative.
    """
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("AUROC needs both positive and negative labels")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))
