"""Exact fast in-silico mutagenesis by local recomputation of the convolutional trunk.

A point mutation at base ``p`` changes the stem and conv-tower activations only inside its
receptive field: a width-``k`` 'SAME' convolution spreads a changed region by ``(k - 1) / 2``
positions on each side and a 2-pooling halves it. So the reference window's activations are
computed once (the input of every convolution and pooling of the stem and conv tower is
cached), and for each batch of mutants only a fixed-width region around each mutant is
recomputed, layer by layer:

* pointwise layers (batch norm, GELU, width-1 convolutions and their residuals) run on the
  region only;
* a width-``k`` convolution gathers the region plus ``k - 1`` reference positions of context
  (zeros beyond the window ends, exactly what 'SAME' padding sees), convolves with 'VALID'
  padding and returns a region ``k - 1`` positions wider (clamped to the sequence);
* a pooling gathers the aligned pairs covering the region (reference partners where needed).

Region widths for one base: 1 -> 15 (stem conv) -> 8 (pool) -> 12 (conv 5) -> 7 (pool) ... and
settle at 6 of the tower's output bins. Those bins are spliced into the reference tower output,
and the transformer, crop, final pointwise block and the head run on all bins (attention is
global) -- except the first attention's per-bin part: its layer norm and query/key/value
projections run on the changed bins only and are spliced into the reference's projections
(the other bins' are unchanged). The result equals the plain forward pass of every mutant
window up to float rounding (tests compare both on a tiny model, including window edges).

Shapes: windows ``[L, 4]``; a mutant batch is ``positions [B]`` int and ``rows [B, 4]`` (the
one-hot row written at each position); scores ``[B]``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import sonnet as snt
import tensorflow as tf

from components.interpret.attribution import ACTIVITY, reduce_output
from trainer.enformer import (DOWNSAMPLING, Enformer, MaxPooling1D, MultiheadAttention, Residual, Sequential,
                              SoftmaxPooling1D, call_layer, compute_dtype_scope)
from trainer.heads import PayloadModel, TrackModel

DEFAULT_BATCH = 128  # mutants per call: the local work is small, the transformer sees B x bins rows

POINTWISE, CONV, POOL = "pointwise", "conv", "pool"


@dataclasses.dataclass(frozen=True)
class LocalOp:
    """One step of the conv trunk: a pointwise layer, a wide 'SAME' convolution or a 2-pooling."""

    kind: str
    layer: Any
    half_width: int = 0  # CONV: (kernel width - 1) / 2


def _has_context_ops(layer: Any) -> bool:
    ops: List[LocalOp] = []
    _flatten(layer, ops)
    return any(op.kind != POINTWISE for op in ops)


def _flatten(layer: Any, ops: List[LocalOp]) -> None:
    """Append the steps of ``layer`` (nested Sequentials unrolled) to ``ops``."""
    if isinstance(layer, Sequential):
        for inner in layer._layers:
            _flatten(inner, ops)
    elif isinstance(layer, snt.Conv1D) and layer.w.shape[0] > 1:
        width = int(layer.w.shape[0])
        plain = np.all(np.asarray(layer.stride) == 1) and np.all(np.asarray(layer.rate) == 1)
        if width % 2 == 0 or not plain or layer.conv_padding != "SAME" or layer.padding_func is not None:
            raise NotImplementedError(f"local ISM needs odd-width, stride-1 'SAME' convolutions, got {layer.name}")
        ops.append(LocalOp(CONV, layer, (width - 1) // 2))
    elif isinstance(layer, (SoftmaxPooling1D, MaxPooling1D)):
        if layer._pool_size != 2:
            raise NotImplementedError("local ISM needs pool size 2")
        ops.append(LocalOp(POOL, layer))
    elif isinstance(layer, Residual) and _has_context_ops(layer._module):
        raise NotImplementedError("local ISM: residual around a convolution wider than 1 or a pooling")
    else:
        ops.append(LocalOp(POINTWISE, layer))


def conv_trunk_ops(enformer: Enformer) -> List[LocalOp]:
    """Stem and conv tower of ``enformer`` as a flat list of steps (the part that is local)."""
    stem, tower = enformer.trunk_module._layers[:2]
    ops: List[LocalOp] = []
    _flatten(stem, ops)
    _flatten(tower, ops)
    return ops


def _merge(base: tf.Tensor, region: tf.Tensor, offset: tf.Tensor) -> tf.Tensor:
    """Write ``region [B, w, C]`` into ``base [B, W, C]`` at per-row ``offset [B]`` (w <= W)."""
    width = region.shape[1]
    index = tf.range(base.shape[1])[tf.newaxis, :] - offset[:, tf.newaxis]  # [B, W]
    inside = (index >= 0) & (index < width)
    values = tf.gather(region, tf.clip_by_value(index, 0, width - 1), batch_dims=1)
    return tf.where(inside[..., tf.newaxis], values, base)


def _conv_valid(layer: snt.Conv1D, x: tf.Tensor) -> tf.Tensor:
    out = tf.nn.conv1d(x, layer.w, stride=1, padding="VALID")
    return out + layer.b if layer.with_bias else out


def _local_step(op: LocalOp, reference: Optional[tf.Tensor], start: tf.Tensor, region: tf.Tensor
                ) -> Tuple[tf.Tensor, tf.Tensor]:
    """Advance a changed region ``(start [B], values [B, w, C])`` through one step.

    ``reference`` ``[n, C]`` is the reference input of a CONV or POOL step.
    """
    width = region.shape[1]
    if op.kind == POINTWISE:
        return start, call_layer(op.layer, region, False)
    n = reference.shape[0]
    if op.kind == CONV:
        half = op.half_width
        out_width = min(width + 2 * half, n)
        out_start = tf.clip_by_value(start - half, 0, n - out_width)
        padded = tf.pad(reference, [[half, half], [0, 0]])  # zeros beyond the ends = 'SAME' padding
        # window [out_start - half, out_start + out_width + half) in sequence coordinates
        base = tf.gather(padded, out_start[:, tf.newaxis] + tf.range(out_width + 2 * half)[tf.newaxis, :])
        merged = _merge(base, region, start - (out_start - half))
        return out_start, _conv_valid(op.layer, merged)
    out_width = min(width // 2 + 1, n // 2)
    out_start = tf.clip_by_value(start // 2, 0, n // 2 - out_width)
    base = tf.gather(reference, 2 * out_start[:, tf.newaxis] + tf.range(2 * out_width)[tf.newaxis, :])
    merged = _merge(base, region, start - 2 * out_start)
    return out_start, op.layer(merged)


HeadFn = Callable[[tf.Tensor], tf.Tensor]  # trunk embedding [B, bins, 2C] -> output tensor


def head_function(enformer: Enformer, payload: Optional[PayloadModel], track: Optional[TrackModel],
                  output: str) -> HeadFn:
    """The model output named ``output`` computed from a trunk embedding."""
    if output == ACTIVITY:
        if payload is None:
            raise ValueError("the activity output needs a payload model")
        return lambda embedding: tf.squeeze(payload.head(embedding), axis=-1)
    if track is not None and output == "tracks":
        return lambda embedding: track.head(embedding)
    return lambda embedding: enformer.apply_heads(embedding, heads=[output])[output]


def first_attention(transformer: Any) -> Optional[Tuple[Any, MultiheadAttention, List[Any], Any]]:
    """``(layer norm, attention, layers after it, feed-forward residual)`` of the first
    transformer block when it has the reference layout ``Residual([LayerNorm, attention,
    dropout...]), Residual(feed-forward)``, else None."""
    blocks = getattr(transformer, "_layers", [])
    block = blocks[0] if blocks else None
    if not isinstance(block, Sequential) or len(block._layers) != 2:
        return None
    attention_part, feed_forward = block._layers
    if not isinstance(attention_part, Residual) or not isinstance(feed_forward, Residual):
        return None
    inner = getattr(attention_part._module, "_layers", [])
    if (len(inner) < 2 or not isinstance(inner[0], snt.LayerNorm) or not isinstance(inner[1], MultiheadAttention)
            or not all(isinstance(layer, snt.Dropout) for layer in inner[2:])):
        return None
    return inner[0], inner[1], list(inner[2:]), feed_forward


class LocalIsm:
    """Fast exact ISM scorer for one model output (see the module docstring).

    Args:
      enformer: float32 Sonnet Enformer (its stem and tower are recomputed locally).
      head: embedding -> output (:func:`head_function`).
      input_length: window bp.
      output, bins, column: what to score (:func:`components.interpret.attribution.reduce_output`).
      reverse_complement: score = mean of the forward window and its reverse complement (the
        mutant of the reverse strand is at ``L - 1 - p`` with the complementary row).
      batch_size: mutants per compiled call; every call is padded to it, so the function is
        traced (and compiled) once whatever the caller's batch sizes.
      jit_compile: XLA-compile the all-bins part of the mutant pass (transformer, final
        pointwise block, head: the dense per-bin work XLA fuses well). The local part stays a
        plain graph either way: its many small gathers were slower under XLA on the 2-core CPU
        (51 vs 85 positions/s when the whole pass was compiled, demo architecture, batch 128).
    """

    def __init__(self, enformer: Enformer, head: HeadFn, input_length: int, output: str = ACTIVITY,
                 bins: Optional[Tuple[int, int]] = None, column: int = 0, reverse_complement: bool = False,
                 batch_size: int = DEFAULT_BATCH, jit_compile: bool = False):
        if enformer.compute_dtype != tf.float32:
            raise NotImplementedError("local ISM runs float32 models only")
        enformer.output_bins(input_length)  # raises for invalid lengths
        self._enformer = enformer
        self._head = head
        self.input_length = int(input_length)
        self._output, self._bins, self._column = output, bins, column
        self.reverse_complement = reverse_complement
        self.batch_size = int(batch_size)
        self._ops = conv_trunk_ops(enformer)
        transformer, *self._after_transformer = enformer.trunk_module._layers[2:]  # + crop, final pointwise
        self._first_attention = first_attention(transformer)
        self._blocks = transformer._layers[1 if self._first_attention else 0:]
        self._reference_fn = tf.function(self._reference_pass, autograph=False,
                                         input_signature=[tf.TensorSpec([input_length, 4], tf.float32)])
        dummy = self._reference_fn(tf.zeros([input_length, 4]))
        cache_specs = [tf.TensorSpec(t.shape, tf.float32) for t in dummy]
        self._local_count = len(dummy) - (4 if self._first_attention else 1)  # the rest feeds the all-bins part
        self._region_fn = tf.function(self._mutant_region, autograph=False,
                                      input_signature=[tf.TensorSpec([batch_size], tf.int32),
                                                       tf.TensorSpec([batch_size, 4], tf.float32),
                                                       cache_specs[:self._local_count]])
        region_specs = [tf.TensorSpec(t.shape, t.dtype) for t in self._region_fn(
            tf.zeros([batch_size], tf.int32), tf.zeros([batch_size, 4]), dummy[:self._local_count])]
        self._all_bins_fns = {
            flip: tf.function(lambda start, region, reference, flip=flip: self._all_bins(start, region, reference, flip),
                              autograph=False, jit_compile=jit_compile,
                              input_signature=[*region_specs, cache_specs[self._local_count:]])
            for flip in ((False, True) if reverse_complement else (False,))}

    def _reference_pass(self, one_hot: tf.Tensor) -> List[tf.Tensor]:
        """Inputs ``[n, C]`` of every CONV/POOL step, the tower output ``[bins, C]`` and, when the
        first transformer block is recognised, its attention's query, key and value projections
        ``[bins, ...]`` of the reference."""
        cache = []
        x = one_hot[tf.newaxis]
        with compute_dtype_scope(tf.float32):
            for op in self._ops:
                if op.kind != POINTWISE:
                    cache.append(x[0])
                x = call_layer(op.layer, x, False)
            cache.append(x[0])
            if self._first_attention:
                norm, attention = self._first_attention[:2]
                cache += [p[0] for p in attention.projections(call_layer(norm, x, False))]
        return cache

    def _mutant_region(self, positions: tf.Tensor, rows: tf.Tensor, cache: Sequence[tf.Tensor]
                       ) -> Tuple[tf.Tensor, tf.Tensor]:
        """The changed tower-output bins of each mutant: ``(start [B], values [B, w, C])``."""
        start, region = positions, rows[:, tf.newaxis, :]
        references = iter(cache)
        with compute_dtype_scope(tf.float32):
            for op in self._ops:
                reference = None if op.kind == POINTWISE else next(references)
                start, region = _local_step(op, reference, start, region)
        return start, region

    def _all_bins(self, start: tf.Tensor, region: tf.Tensor, reference: Sequence[tf.Tensor], flip: bool) -> tf.Tensor:
        """Changed tower bins -> ``[B]`` scores (transformer, crop, final block, head on all bins).

        ``reference``: the tower output ``[bins, C]`` (and the first attention's reference
        projections). The first attention's per-bin part (layer norm, projections) runs on the
        changed bins only: the other bins' projections are the reference's.
        """
        def spliced(values: tf.Tensor, changed: tf.Tensor) -> tf.Tensor:
            return _merge(tf.tile(values[tf.newaxis], [tf.shape(start)[0], 1, 1]), changed, start)

        with compute_dtype_scope(tf.float32):
            embedding = spliced(reference[0], region)
            if self._first_attention:
                norm, attention, after, feed_forward = self._first_attention
                changed = attention.projections(call_layer(norm, region, False))
                attended = attention.attend(*(spliced(r, c) for r, c in zip(reference[1:], changed)))
                for layer in after:
                    attended = call_layer(layer, attended, False)
                embedding = call_layer(feed_forward, embedding + attended, False)
            for layer in [*self._blocks, *self._after_transformer]:
                embedding = call_layer(layer, embedding, False)
            values = self._head(embedding)
        return reduce_output(values, self._output, self._bins, self._column, flip)

    def scorer(self, one_hot: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """Mutant scorer of the window ``one_hot [L, 4]``: ``(positions [B], rows [B, 4]) -> [B]``."""
        one_hot = np.asarray(one_hot, dtype=np.float32)
        if one_hot.shape != (self.input_length, 4):
            raise ValueError(f"window must be [{self.input_length}, 4], got {one_hot.shape}")
        strands = {False: self._reference_fn(tf.constant(one_hot))}
        if self.reverse_complement:
            strands[True] = self._reference_fn(tf.constant(one_hot[::-1, ::-1].copy()))

        def padded(flip: bool, positions: np.ndarray, rows: np.ndarray) -> np.ndarray:
            """Scores of any number of mutants in calls of exactly ``batch_size`` (last one padded)."""
            size, out = len(positions), []
            local_cache, all_bins_cache = strands[flip][:self._local_count], strands[flip][self._local_count:]
            for first in range(0, size, self.batch_size):
                chunk_positions = np.zeros(self.batch_size, np.int32)
                chunk_rows = np.zeros((self.batch_size, 4), np.float32)
                count = min(self.batch_size, size - first)
                chunk_positions[:count] = positions[first:first + count]
                chunk_rows[:count] = rows[first:first + count]
                region_start, region = self._region_fn(chunk_positions, chunk_rows, local_cache)
                out.append(self._all_bins_fns[flip](region_start, region, all_bins_cache).numpy()[:count])
            return np.concatenate(out)

        def score(positions: np.ndarray, rows: np.ndarray) -> np.ndarray:
            positions = np.asarray(positions, dtype=np.int32)
            rows = np.asarray(rows, dtype=np.float32)
            forward = padded(False, positions, rows)
            if not self.reverse_complement:
                return forward
            backward = padded(True, self.input_length - 1 - positions, np.ascontiguousarray(rows[:, ::-1]))
            return (forward + backward) / 2.0

        return score


def changed_bins(input_length: int, enformer: Enformer) -> int:
    """Tower-output bins recomputed per mutant (the spliced region's width)."""
    width, n = 1, input_length
    for op in conv_trunk_ops(enformer):
        if op.kind == CONV:
            width = min(width + 2 * op.half_width, n)
        elif op.kind == POOL:
            width, n = min(width // 2 + 1, n // 2), n // 2
    assert n == input_length // DOWNSAMPLING
    return width


def scorer_factory(enformer: Enformer, payload: Optional[PayloadModel], track: Optional[TrackModel],
                   input_length: int, selections: Optional[Mapping[str, Optional[Sequence[int]]]] = None,
                   batch_size: int = DEFAULT_BATCH, jit_compile: bool = False) -> Callable[..., Callable]:
    """``(one_hot [L, 4], output, bins, column, reverse_complement) -> mutant scorer`` of that window.

    ``column`` indexes the track columns ``selections[output]`` (a Predictor's ``outputs``: the
    scores then match that predictor's), or all tracks when there is no selection. One
    :class:`LocalIsm` (one trace) per distinct ``(output, bins, column, reverse_complement)``.
    """
    built: Dict[Tuple[Any, ...], LocalIsm] = {}

    def factory(one_hot: np.ndarray, output: str, bins: Optional[Tuple[int, int]], column: int,
                reverse_complement: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        selected = (selections or {}).get(output)
        track_index = int(selected[column]) if selected is not None and output != ACTIVITY else int(column)
        key = (output, None if bins is None else tuple(int(b) for b in bins), track_index, bool(reverse_complement))
        if key not in built:
            built[key] = LocalIsm(enformer, head_function(enformer, payload, track, output), input_length,
                                  output, key[1], key[2], key[3], batch_size=batch_size, jit_compile=jit_compile)
        return built[key].scorer(one_hot)

    return factory


def supports(enformer: Any) -> bool:
    """Whether local ISM can run on this trunk (a float32 Sonnet Enformer of the reference layout)."""
    if not isinstance(enformer, Enformer) or enformer.compute_dtype != tf.float32:
        return False
    try:
        conv_trunk_ops(enformer)
    except NotImplementedError:
        return False
    return True
