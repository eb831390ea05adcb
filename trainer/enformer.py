"""Enformer (Avsec et al. 2021) in Sonnet 2, checkpoint compatible with DeepMind's weights.

The object graph (attribute names, list positions, module nesting) follows DeepMind's
reference implementation (``deepmind-research/enformer``), because ``tf.train.Checkpoint``
restores by object path, e.g.::

    module/_trunk/_layers/0/_layers/0/w                       stem Conv1D(C/2, 15)
    module/_trunk/_layers/0/_layers/1/_module/_layers/0/...   stem residual batch norm
    module/_trunk/_layers/0/_layers/2/_logit_linear/w         stem softmax pooling
    module/_trunk/_layers/2/_layers/i/_layers/0/_module/_layers/1/_q_layer/w
    module/_heads/human/_layers/0/{w,b}

so ``tf.train.Checkpoint(module=Enformer()).restore(path)`` loads the published Sonnet weights
(``gs://dm-enformer/models/enformer/sonnet_weights/``) unchanged. Functions (``gelu``,
``tf.nn.relu``, ``tf.nn.softplus``) and variable-free modules (the crop) keep their list
slots, so the indices of the modules after them match.

Tensor layout: inputs ``[batch, length, 4]`` float one-hot (A,C,G,T; N = zero row);
``length`` must be a multiple of 128. The trunk returns ``[batch, bins, 2 * channels]`` with
``bins = length / 128`` (or ``target_length`` when a centre crop is configured); the heads
return ``{name: [batch, bins, tracks]}``.

Deliberate differences from the reference that do not change the checkpoint:
  * ``is_training`` is dispatched by module *type*: with dm-sonnet 2.0.2,
    ``inspect.signature(module.__call__)`` reports ``(*args, **kwargs)``, so the reference's
    signature test silently never passes ``is_training`` (batch norm then fails).
  * Every ``snt.Linear`` is applied to a 2-D view of its input. The reference applies the
    pooling logit ``Linear`` to a 4-D tensor; the broadcast matmul's weight gradient then
    materialises ``[B, L/2, C, C]`` (~10 GiB at batch 4, 25.6 kb).
  * No fixed input length: ``target_length=None`` disables the crop.
  * Optional ``jit_compile`` (XLA) and ``compute_dtype='bfloat16'`` (matmuls/convolutions in
    bfloat16 with float32 variables, normalisation/softmax/residual stream in float32).
"""
from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import sonnet as snt
import tensorflow as tf
from sonnet.src.batch_norm import BaseBatchNorm

from components.errors import InputError
from trainer import recompute

# Total downsampling of the trunk: stem pooling + 6 conv-tower poolings = 2**7.
DOWNSAMPLING = 128
REFERENCE_HEADS: Dict[str, int] = {"human": 5313, "mouse": 1643}
REFERENCE_TRAINABLE_PARAMETERS = 251_221_292
POSITIONAL_FUNCTIONS = ("exponential", "central_mask", "gamma")


class SequenceLengthError(InputError):
    """Input length is not usable by the trunk (not a multiple of 128, or shorter than the crop)."""


# --------------------------------------------------------------------------------------------
# Configuration presets
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class EnformerConfig:
    """Hyper-parameters of an Enformer; ``full`` is the published model.

    ``value_size`` (= relative positional features) is ``channels // num_heads`` and must be
    divisible by 6 (3 feature functions, symmetric and asymmetric).
    ``filters_divisible_by`` rounds the conv-tower widths (the reference uses 128, which
    rounds small test models to zero filters).
    """

    channels: int = 1536
    num_transformer_layers: int = 11
    num_heads: int = 8
    pooling_type: str = "attention"
    heads: Mapping[str, int] = dataclasses.field(default_factory=lambda: dict(REFERENCE_HEADS))
    target_length: Optional[int] = None
    key_size: int = 64
    filters_divisible_by: int = 128

    def replace(self, **changes: Any) -> "EnformerConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        values = dataclasses.asdict(self)
        values["heads"] = dict(self.heads)
        return values


PRESETS: Dict[str, EnformerConfig] = {
    # Unit tests: ~0.7 M parameters, a 25.6 kb forward pass takes well under a second on CPU.
    "tiny": EnformerConfig(channels=48, num_transformer_layers=1, num_heads=2, key_size=16,
                           filters_divisible_by=8),
    # CPU demos: same topology, ~5 M parameters.
    "small": EnformerConfig(channels=192, num_transformer_layers=2, num_heads=4, key_size=32,
                            filters_divisible_by=32),
    # The published model (251,221,292 trainable parameters).
    "full": EnformerConfig(),
}


def get_config(config: Union[str, EnformerConfig, None] = "full", **overrides: Any) -> EnformerConfig:
    """Preset by name (``tiny``, ``small``, ``full``) or a config, with field overrides."""
    if config is None:
        config = "full"
    if isinstance(config, str):
        if config not in PRESETS:
            raise InputError(f"unknown Enformer preset {config!r}: choose one of {', '.join(PRESETS)}")
        config = PRESETS[config]
    return config.replace(**overrides) if overrides else config


def build_enformer(config: Union[str, EnformerConfig, None] = "full", **kwargs: Any) -> "Enformer":
    """Build an :class:`Enformer` from a preset name or config.

    ``kwargs`` may override config fields (``target_length=896``) and pass runtime switches
    (``jit_compile=True``, ``compute_dtype='bfloat16'``).
    """
    runtime = {key: kwargs.pop(key) for key in ("jit_compile", "compute_dtype", "name") if key in kwargs}
    config = get_config(config, **kwargs)
    return Enformer(**config.to_dict(), **runtime)


def output_bins(length: int, target_length: Optional[int] = None) -> int:
    """Number of 128 bp bins the trunk returns for an input of ``length`` bp."""
    check_length(length, target_length)
    return target_length if target_length else length // DOWNSAMPLING


def check_length(length: Optional[int], target_length: Optional[int] = None) -> None:
    """Raise :class:`SequenceLengthError` unless ``length`` bp is a valid trunk input."""
    if length is None:
        raise SequenceLengthError("input length must be known when the model is traced (got None)")
    if length <= 0 or length % DOWNSAMPLING:
        lower = max(DOWNSAMPLING, length // DOWNSAMPLING * DOWNSAMPLING)
        raise SequenceLengthError(
            f"input length {length} bp is not a positive multiple of {DOWNSAMPLING} bp "
            f"(the trunk pools 7 times by 2); use e.g. {lower} or {lower + DOWNSAMPLING} bp")
    if target_length and length // DOWNSAMPLING < target_length:
        raise SequenceLengthError(
            f"input length {length} bp gives {length // DOWNSAMPLING} bins, fewer than the "
            f"configured output crop target_length={target_length}; use >= {target_length * DOWNSAMPLING} bp "
            "or target_length=None")


# --------------------------------------------------------------------------------------------
# Compute-dtype policy (mixed precision)
# --------------------------------------------------------------------------------------------
_policy = threading.local()

# Entry points are excluded from AutoGraph: the code has no tensor-dependent Python control
# flow, and converting the Sonnet module tree made tracing a tiny model take ~7 s instead of ~2 s.
no_autograph = tf.autograph.experimental.do_not_convert


def _compute_dtype() -> tf.DType:
    return getattr(_policy, "dtype", tf.float32)


@contextlib.contextmanager
def compute_dtype_scope(dtype: tf.DType):
    """Run matmuls/convolutions of the modules below in ``dtype`` (variables stay float32).

    Read at trace time, so a ``tf.function`` traced inside the scope keeps that precision.
    """
    previous = _compute_dtype()
    _policy.dtype = tf.as_dtype(dtype)
    try:
        yield
    finally:
        _policy.dtype = previous


@contextlib.contextmanager
def model_compute_dtype(dtype: Union[str, tf.DType, None]):
    """Every :class:`Enformer` called (or traced) inside runs in ``dtype``, whatever its own
    ``compute_dtype``; ``None`` leaves each model's own. Mixed-precision training uses it so the
    trained model exports (and restores) with its configured dtype.
    """
    previous = getattr(_policy, "model_dtype", None)
    _policy.model_dtype = None if dtype is None else tf.as_dtype(dtype)
    try:
        yield
    finally:
        _policy.model_dtype = previous


@contextlib.contextmanager
def moving_batch_norm_statistics():
    """Batch norms called (or traced) inside normalise with their moving statistics and leave
    them unchanged, also in training; the rest of training (dropout, gradients) is unaffected.

    For fine-tuning a pretrained trunk on batches unlike its pretraining data (e.g. windows
    of one locus): batch statistics would shift every feature the trunk learned, and the
    moving averages would drift to the new batches. Read at trace time.
    """
    previous = getattr(_policy, "moving_batch_norm", False)
    _policy.moving_batch_norm = True
    try:
        yield
    finally:
        _policy.moving_batch_norm = previous


def _to_compute(x: tf.Tensor) -> tf.Tensor:
    dtype = _compute_dtype()
    return x if x.dtype == dtype else tf.cast(x, dtype)


def apply_linear(layer: snt.Linear, x: tf.Tensor) -> tf.Tensor:
    """``snt.Linear`` on ``[..., C_in]`` through a 2-D view -> ``[..., C_out]`` float32.

    A 2-D matmul keeps the weight gradient ``[C_in, C_out]`` (a broadcast N-D matmul would
    materialise one per leading index); numerically the same product.
    """
    flat = tf.reshape(x, [-1, x.shape[-1]])
    if not hasattr(layer, "w") or _compute_dtype() == tf.float32:
        out = layer(flat)  # the first call creates the float32 variables
    else:
        out = tf.matmul(_to_compute(flat), _to_compute(layer.w))
        if layer.with_bias:
            out = out + _to_compute(layer.b)
        out = tf.cast(out, tf.float32)
    return _unflatten(out, x, layer.output_size)


def _unflatten(out: tf.Tensor, like: tf.Tensor, channels: int) -> tf.Tensor:
    """Reshape ``[N, channels]`` back to ``like``'s leading shape (static where known)."""
    lead = like.shape[:-1].as_list()
    if sum(d is None for d in lead) <= 1:
        return tf.reshape(out, [-1 if d is None else d for d in lead] + [channels])
    return tf.reshape(out, tf.concat([tf.shape(like)[:-1], [channels]], 0))


def apply_conv1d(layer: snt.Conv1D, x: tf.Tensor) -> tf.Tensor:
    """``snt.Conv1D`` ('SAME', stride 1) on ``[B, L, C_in]`` -> ``[B, L, C_out]`` float32.

    Width-1 convolutions are computed as one 2-D matmul (same arithmetic, avoids the
    conv2d expansion of ``tf.nn.convolution``); bfloat16 policy casts operands.
    """
    if not hasattr(layer, "w"):
        return layer(x)  # builds float32 variables
    width = layer.w.shape[0]
    dtype = _compute_dtype()
    if width == 1:
        in_channels = layer.w.shape[1]
        flat = tf.reshape(x, [-1, in_channels])
        out = tf.matmul(_to_compute(flat), _to_compute(layer.w[0]))
        if layer.with_bias:
            out = out + _to_compute(layer.b)
        out = _unflatten(out, x, layer.output_channels)
    elif dtype == tf.float32:
        return layer(x)
    else:
        out = tf.nn.convolution(_to_compute(x), _to_compute(layer.w), padding="SAME")
        if layer.with_bias:
            out = tf.nn.bias_add(out, _to_compute(layer.b))
    return out if out.dtype == tf.float32 else tf.cast(out, tf.float32)


# --------------------------------------------------------------------------------------------
# Building blocks (attribute names follow the reference)
# --------------------------------------------------------------------------------------------
class TrainingAware:
    """Marker: the module's ``__call__`` takes ``(inputs, is_training)``."""


# Types whose __call__ takes is_training. Checked with isinstance because dm-sonnet 2.0.2
# hides __call__ signatures behind (*args, **kwargs).
_TAKES_IS_TRAINING = (TrainingAware, BaseBatchNorm, snt.Dropout)


def call_layer(layer: Any, x: tf.Tensor, is_training: bool) -> tf.Tensor:
    """Apply one element of a :class:`Sequential`, passing ``is_training`` where accepted."""
    if isinstance(layer, snt.Conv1D):
        return apply_conv1d(layer, x)
    if isinstance(layer, snt.Linear):
        return apply_linear(layer, x)
    if is_training and isinstance(layer, snt.Dropout):
        # Through the recompute module, so a recomputed block draws the same masks
        # (dm-sonnet 2.0.2 keeps the rate in ``_rate``).
        return recompute.dropout(x, layer._rate)
    if is_training and isinstance(layer, BaseBatchNorm) and getattr(_policy, "moving_batch_norm", False):
        return layer(x, is_training=False)
    if is_training and isinstance(layer, BaseBatchNorm) and not recompute.update_statistics():
        # A recomputed forward: batch statistics as in training, moving averages left alone.
        return layer(x, is_training=False, test_local_stats=True)
    if isinstance(layer, _TAKES_IS_TRAINING):
        return layer(x, is_training=is_training)
    return layer(x)


class Sequential(snt.Module, TrainingAware):
    """Ordered layers in ``_layers``; functions and modules alike, ``is_training`` routed by type.

    ``layers`` may be a zero-argument callable returning the list (built inside this module's
    name scope, as in the reference).
    """

    def __init__(self, layers: Union[Callable[[], Iterable[Any]], Iterable[Any], None] = None,
                 name: Optional[str] = None):
        super().__init__(name=name)
        if layers is None:
            layers = []
        elif callable(layers):
            with tf.name_scope(name or "sequential"):
                layers = layers()
        self._layers = [layer for layer in layers if layer is not None]

    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        outputs = inputs
        for layer in self._layers:
            outputs = call_layer(layer, outputs, is_training)
        return outputs


class BlockSequential(Sequential):
    """A :class:`Sequential` of blocks (conv tower, transformer); in training, each block runs
    through :func:`trainer.recompute.run_block` (gradient checkpointing when enabled).

    Same ``_layers`` attribute, so checkpoints are unchanged.
    """

    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        if not is_training:
            return super().__call__(inputs, is_training)
        outputs = inputs
        for layer in self._layers:
            outputs = recompute.run_block(lambda x, layer=layer: call_layer(layer, x, True), outputs)
        return outputs


class Residual(snt.Module, TrainingAware):
    """``inputs + module(inputs)``; the wrapped module sits at ``_module``."""

    def __init__(self, module: Any, name: str = "residual"):
        super().__init__(name=name)
        self._module = module

    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        return inputs + call_layer(self._module, inputs, is_training)


class SoftmaxPooling1D(snt.Module):
    """Attention pooling: softmax-weighted sum over windows of ``pool_size`` positions.

    ``[B, L, C] -> [B, L / pool_size, C]``. Logits come from a bias-free ``Linear``
    (``_logit_linear``, per channel: ``[C, C]``) initialised to ``w_init_scale * identity``, so
    at initialisation it behaves like a soft max-pool.
    """

    def __init__(self, pool_size: int = 2, per_channel: bool = False, w_init_scale: float = 0.0,
                 name: str = "softmax_pooling"):
        super().__init__(name=name)
        self._pool_size = pool_size
        self._per_channel = per_channel
        self._w_init_scale = w_init_scale
        self._logit_linear: Optional[snt.Linear] = None

    def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
        _, length, channels = inputs.shape
        if self._logit_linear is None:  # channel count is only known at the first call
            with self.name_scope:
                self._logit_linear = snt.Linear(
                    channels if self._per_channel else 1, with_bias=False,  # softmax ignores shifts
                    w_init=snt.initializers.Identity(self._w_init_scale))
        if self._pool_size == 2 and self._per_channel:
            # Same function, half the work: softmax over two positions is
            # sigmoid(l0 - l1), and for a bias-free linear l0 - l1 = (x0 - x1) W, so
            # out = x1 + (x0 - x1) * sigmoid((x0 - x1) W). One [N, C] x [C, C] matmul on
            # L/2 rows instead of L rows, and no exp/sum/divide over the full tensor.
            pairs = tf.reshape(inputs, [-1, length // 2, 2 * channels])
            first, second = pairs[..., :channels], pairs[..., channels:]
            difference = first - second
            return second + difference * tf.nn.sigmoid(apply_linear(self._logit_linear, difference))
        windows = tf.reshape(inputs, [-1, length // self._pool_size, self._pool_size, channels])
        logits = apply_linear(self._logit_linear, windows)  # 2-D matmul inside
        return tf.reduce_sum(windows * tf.nn.softmax(logits, axis=-2), axis=-2)


@snt.allow_empty_variables
class MaxPooling1D(snt.Module):
    """Variable-free max pooling (``pooling_type='max'``): ``[B, L, C] -> [B, L/2, C]``."""

    def __init__(self, pool_size: int = 2, name: str = "max_pooling"):
        super().__init__(name=name)
        self._pool_size = pool_size

    def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.nn.max_pool1d(inputs, self._pool_size, self._pool_size, padding="SAME")


@snt.allow_empty_variables
class TargetLengthCrop1D(snt.Module):
    """Centre crop to ``target_length`` bins; ``None`` keeps every bin (variable free)."""

    def __init__(self, target_length: Optional[int], name: str = "target_length_crop"):
        super().__init__(name=name)
        self._target_length = target_length

    def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
        if not self._target_length:
            return inputs
        length = inputs.shape[-2]
        trim = (length - self._target_length) // 2
        if trim < 0:
            raise SequenceLengthError(
                f"{length} bins at the crop are fewer than target_length={self._target_length}")
        # Explicit end index: the reference's inputs[..., trim:-trim, :] is empty when trim == 0.
        return inputs[..., trim:trim + self._target_length, :]


def gelu(x: tf.Tensor) -> tf.Tensor:
    """GELU approximation ``sigmoid(1.702 x) * x`` (Hendrycks & Gimpel, section 2), as trained."""
    return tf.nn.sigmoid(1.702 * x) * x


def exponential_linspace_int(start: int, end: int, num: int, divisible_by: int = 1) -> List[int]:
    """``num`` integers growing geometrically from ``start`` to ``end``, rounded to ``divisible_by``."""
    ratio = (end / start) ** (1.0 / (num - 1))
    return [int(np.round(start * ratio ** i / divisible_by) * divisible_by) for i in range(num)]


# --------------------------------------------------------------------------------------------
# Relative positional features and attention
# --------------------------------------------------------------------------------------------
def _features_exponential(distances: tf.Tensor, num: int, seq_length: int,
                          min_half_life: float = 3.0) -> tf.Tensor:
    """``[P] -> [P, num]``: exp(-ln2 |d| / h) with half lives h = 2^linspace(3, log2 T)."""
    max_range = tf.math.log(tf.cast(seq_length, tf.float32)) / tf.math.log(2.0)
    half_life = tf.pow(2.0, tf.linspace(min_half_life, max_range, num))
    return tf.exp(-tf.math.log(2.0) / half_life[tf.newaxis, :] * tf.abs(distances)[:, tf.newaxis])


def _features_central_mask(distances: tf.Tensor, num: int, seq_length: int) -> tf.Tensor:
    """``[P] -> [P, num]``: 1 where |d| < 2^k - 1 (k = 1..num), else 0."""
    del seq_length
    widths = tf.pow(2.0, tf.range(1, num + 1, dtype=tf.float32)) - 1.0
    return tf.cast(widths[tf.newaxis, :] > tf.abs(distances)[:, tf.newaxis], tf.float32)


def _gamma_pdf(x: tf.Tensor, concentration: tf.Tensor, rate: tf.Tensor) -> tf.Tensor:
    # float32 throughout, like the trained model: the rounding of xlogy/lgamma at large
    # concentrations is part of the features the published weights saw.
    log_unnormalised = tf.math.xlogy(concentration - 1.0, x) - rate * x
    log_normaliser = tf.math.lgamma(concentration) - concentration * tf.math.log(rate)
    return tf.exp(log_unnormalised - log_normaliser)


def _features_gamma(distances: tf.Tensor, num: int, seq_length: int) -> tf.Tensor:
    """``[P] -> [P, num]``: gamma densities with means linspace(T/num, T) and sd T/(2 num).

    Normalised by their maximum over all distances and features of the block (the
    reference's ``probabilities / tf.reduce_max(probabilities)``).
    """
    stddev = seq_length / (2 * num)
    start_mean = seq_length / num
    mean = tf.linspace(tf.constant(start_mean, tf.float32), tf.constant(float(seq_length), tf.float32), num)
    concentration = (mean / stddev) ** 2
    rate = mean / stddev ** 2
    probabilities = _gamma_pdf(tf.abs(distances)[:, tf.newaxis], concentration[tf.newaxis, :],
                               rate[tf.newaxis, :]) + 1e-8  # keeps the normaliser positive
    return probabilities / tf.reduce_max(probabilities)


_FEATURE_FUNCTIONS = {
    "exponential": _features_exponential,
    "central_mask": _features_central_mask,
    "gamma": _features_gamma,
}


def positional_features(distances: tf.Tensor, feature_size: int, seq_length: int,
                        functions: Sequence[str] = POSITIONAL_FUNCTIONS, symmetric: bool = False) -> tf.Tensor:
    """Relative positional basis functions.

    Args:
      distances: ``[P]`` float32 relative positions (``range(-T + 1, T)`` in attention).
      feature_size: total features; divisible by ``len(functions)`` (x2 unless symmetric).
      seq_length: characteristic length ``T`` (number of bins the attention sees).
      functions: names among ``exponential``, ``central_mask``, ``gamma``.
      symmetric: if False, features ``f(|d|)`` are followed by ``sign(d) * f(|d|)``.
    Returns:
      ``[P, feature_size]`` float32, ordered ``[f1, f2, f3, sign*f1, sign*f2, sign*f3]``.
    """
    components = len(functions) * (1 if symmetric else 2)
    if feature_size % components:
        raise ValueError(f"feature_size {feature_size} must be divisible by {components}")
    per_function = feature_size // components
    distances = tf.cast(distances, tf.float32)
    features = tf.concat([_FEATURE_FUNCTIONS[name](distances, per_function, seq_length)
                          for name in functions], axis=-1)
    if not symmetric:
        features = tf.concat([features, tf.sign(distances)[:, tf.newaxis] * features], axis=-1)
    return features


def relative_shift(logits: tf.Tensor) -> tf.Tensor:
    """Transformer-XL shift: ``[B, H, T, 2T-1]`` (by distance) -> ``[B, H, T, T]`` (by key).

    ``out[..., i, j] = logits[..., i, j - i + T - 1]``, i.e. the logit for distance ``j - i``;
    done with one pad and two reshapes instead of a gather.
    """
    _, heads, queries, distances = logits.shape
    padded = tf.concat([tf.zeros_like(logits[..., :1]), logits], axis=-1)  # [B, H, T, 2T]
    padded = tf.reshape(padded, [-1, heads, distances + 1, queries])[:, :, 1:, :]
    shifted = tf.reshape(padded, [-1, heads, queries, distances])
    return shifted[..., : (distances + 1) // 2]


class MultiheadAttention(snt.Module, TrainingAware):
    """Multi-head self-attention with Transformer-XL relative positions (reference layout).

    ``[B, T, C] -> [B, T, value_size * num_heads]``. Variables: ``_q_layer``, ``_k_layer``,
    ``_v_layer``, ``_r_k_layer`` (bias-free), ``_embedding_layer`` (zero-initialised output
    projection), ``_r_w_bias`` and ``_r_r_bias`` ``[1, H, 1, K]``.
    """

    def __init__(self, value_size: int, key_size: int, num_heads: int, scaling: bool = True,
                 attention_dropout_rate: float = 0.1, relative_positions: bool = True,
                 relative_position_symmetric: bool = False,
                 relative_position_functions: Sequence[str] = POSITIONAL_FUNCTIONS,
                 num_relative_position_features: Optional[int] = None,
                 positional_dropout_rate: float = 0.1, zero_initialize: bool = True,
                 initializer: Optional[snt.initializers.Initializer] = None, name: Optional[str] = None):
        super().__init__(name=name)
        self._value_size = value_size
        self._key_size = key_size
        self._num_heads = num_heads
        self._scaling = scaling
        self._attention_dropout_rate = attention_dropout_rate
        self._relative_positions = relative_positions
        self._relative_position_symmetric = relative_position_symmetric
        self._relative_position_functions = tuple(relative_position_functions)
        divisible_by = len(self._relative_position_functions) * (1 if relative_position_symmetric else 2)
        if num_relative_position_features is None:
            num_relative_position_features = value_size // divisible_by * divisible_by
        self._num_relative_position_features = num_relative_position_features
        self._positional_dropout_rate = positional_dropout_rate
        init = initializer or snt.initializers.VarianceScaling(scale=2.0)
        key_projection = key_size * num_heads
        embedding_size = value_size * num_heads
        self._q_layer = snt.Linear(key_projection, with_bias=False, w_init=init, name="q_layer")
        self._k_layer = snt.Linear(key_projection, with_bias=False, w_init=init, name="k_layer")
        self._v_layer = snt.Linear(embedding_size, with_bias=False, w_init=init, name="v_layer")
        self._embedding_layer = snt.Linear(
            embedding_size, w_init=snt.initializers.Zeros() if zero_initialize else init,
            name="embedding_layer")
        if relative_positions:
            self._r_k_layer = snt.Linear(key_projection, with_bias=False, w_init=init, name="r_k_layer")
            self._r_w_bias = tf.Variable(init([1, num_heads, 1, key_size], tf.float32), name="r_w_bias")
            self._r_r_bias = tf.Variable(init([1, num_heads, 1, key_size], tf.float32), name="r_r_bias")

    def _split(self, projected: tf.Tensor) -> tf.Tensor:
        """``[B, T, H * size] -> [B, H, T, size]``."""
        length = projected.shape[1]
        projected = tf.reshape(projected, [-1, length, self._num_heads, projected.shape[-1] // self._num_heads])
        return tf.transpose(projected, [0, 2, 1, 3])

    def _heads(self, layer: snt.Linear, inputs: tf.Tensor) -> tf.Tensor:
        """``[B, T, C] -> [B, H, T, size]`` projection split into heads."""
        return self._split(apply_linear(layer, inputs))

    def projections(self, inputs: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Per-position query, key and value projections of ``[B, T, C]``: ``[B, T, H K]``,
        ``[B, T, H K]``, ``[B, T, H V]`` (heads not split, queries not scaled)."""
        return (apply_linear(self._q_layer, inputs), apply_linear(self._k_layer, inputs),
                apply_linear(self._v_layer, inputs))

    def attend(self, queries: tf.Tensor, keys: tf.Tensor, values: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        """Attention over :meth:`projections` ``[B, T, ...]`` -> ``[B, T, value_size * num_heads]``."""
        length = queries.shape[1]
        q, k, v = self._split(queries), self._split(keys), self._split(values)
        if self._scaling:
            q *= self._key_size ** -0.5
        if self._relative_positions:
            distances = tf.range(-length + 1, length, dtype=tf.float32)
            features = positional_features(distances, self._num_relative_position_features, length,
                                           self._relative_position_functions,
                                           self._relative_position_symmetric)[tf.newaxis]  # [1, 2T-1, F]
            if is_training:
                features = recompute.dropout(features, self._positional_dropout_rate)
            r_k = self._heads(self._r_k_layer, features)  # [1, H, 2T-1, K]
            content_logits = tf.matmul(q + self._r_w_bias, k, transpose_b=True)  # [B, H, T, T]
            relative_logits = relative_shift(tf.matmul(q + self._r_r_bias, r_k, transpose_b=True))
            logits = content_logits + relative_logits
        else:
            logits = tf.matmul(q, k, transpose_b=True)
        weights = tf.nn.softmax(logits)
        if is_training:
            weights = recompute.dropout(weights, self._attention_dropout_rate)
        attended = tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])  # [B, T, H, V]
        attended = tf.reshape(attended, [-1, length, self._value_size * self._num_heads])
        return apply_linear(self._embedding_layer, attended)

    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        return self.attend(*self.projections(inputs), is_training=is_training)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
class _FunctionCache:
    """Plain holder for compiled functions: not a trackable, so it never enters checkpoints."""

    def __init__(self) -> None:
        self.functions: Dict[str, Callable] = {}


class Enformer(snt.Module):
    """Enformer trunk + species heads, object graph identical to DeepMind's reference.

    Args:
      channels: trunk width ``C`` (1536); the trunk embedding has ``2 C`` features.
      num_transformer_layers: transformer blocks (11).
      num_heads: attention heads (8); ``value_size = C / num_heads``.
      pooling_type: ``'attention'`` (softmax pooling, published) or ``'max'``.
      heads: ``{name: tracks}``, default ``{'human': 5313, 'mouse': 1643}``.
      target_length: ``None`` = no crop (any multiple of 128 bp; 25,600 bp -> 200 bins);
        an int = centre crop to that many bins (reference: 896 of 1,536).
      key_size, filters_divisible_by: see :class:`EnformerConfig`.
      jit_compile: run ``trunk``/``__call__`` through an XLA-compiled ``tf.function``.
      compute_dtype: ``'float32'`` (default) or ``'bfloat16'`` for matmuls/convolutions.

    Variables are created eagerly at construction (on a 256 bp dummy input), so a checkpoint
    restore is immediate and compiled functions never create variables.
    """

    def __init__(self, channels: int = 1536, num_transformer_layers: int = 11, num_heads: int = 8,
                 pooling_type: str = "attention", heads: Optional[Mapping[str, int]] = None,
                 target_length: Optional[int] = None, key_size: int = 64, filters_divisible_by: int = 128,
                 *, jit_compile: bool = False, compute_dtype: Union[str, tf.DType] = "float32",
                 name: str = "enformer"):
        super().__init__(name=name)
        if channels % num_heads:
            raise ValueError(f"channels ({channels}) must be divisible by num_heads ({num_heads})")
        value_size = channels // num_heads
        if value_size % (2 * len(POSITIONAL_FUNCTIONS)):
            raise ValueError(f"channels / num_heads = {value_size} must be divisible by 6 "
                             "(relative positional features)")
        if pooling_type not in ("attention", "max"):
            raise ValueError(f"pooling_type must be 'attention' or 'max', got {pooling_type!r}")
        self._config = EnformerConfig(channels=channels, num_transformer_layers=num_transformer_layers,
                                      num_heads=num_heads, pooling_type=pooling_type,
                                      heads=dict(REFERENCE_HEADS if heads is None else heads),
                                      target_length=target_length, key_size=key_size,
                                      filters_divisible_by=filters_divisible_by)
        self._jit_compile = bool(jit_compile)
        self._dtype = tf.as_dtype(compute_dtype)
        if self._dtype not in (tf.float32, tf.bfloat16):
            raise ValueError(f"compute_dtype must be float32 or bfloat16, got {compute_dtype!r}")
        self._cache = _FunctionCache()

        dropout_rate = 0.4
        attention_kwargs = dict(
            value_size=value_size, key_size=key_size, num_heads=num_heads, scaling=True,
            attention_dropout_rate=0.05, relative_positions=True,
            relative_position_functions=POSITIONAL_FUNCTIONS,
            num_relative_position_features=value_size, positional_dropout_rate=0.01,
            zero_initialize=True)

        def pooling() -> snt.Module:
            if pooling_type == "attention":
                return SoftmaxPooling1D(pool_size=2, per_channel=True, w_init_scale=2.0)
            return MaxPooling1D(pool_size=2)

        def conv_block(filters: int, width: int = 1, name: str = "conv_block") -> Sequential:
            return Sequential(lambda: [
                snt.distribute.CrossReplicaBatchNorm(
                    create_scale=True, create_offset=True, scale_init=snt.initializers.Ones(),
                    moving_mean=snt.ExponentialMovingAverage(0.9, name="moving_mean"),
                    moving_variance=snt.ExponentialMovingAverage(0.9, name="moving_variance"),
                    eps=1e-5),
                gelu,
                snt.Conv1D(filters, width),
            ], name=name)

        with tf.name_scope("trunk"):
            stem = Sequential(lambda: [
                snt.Conv1D(channels // 2, 15),
                Residual(conv_block(channels // 2, 1, name="pointwise_conv_block")),
                pooling(),
            ], name="stem")
            filters = exponential_linspace_int(channels // 2, channels, 6, filters_divisible_by)
            conv_tower = BlockSequential(lambda: [
                Sequential(lambda: [
                    conv_block(n_filters, 5),
                    Residual(conv_block(n_filters, 1, name="pointwise_conv_block")),
                    pooling(),
                ], name=f"conv_tower_block_{i}")
                for i, n_filters in enumerate(filters)], name="conv_tower")

            def mlp() -> Sequential:
                return Sequential(lambda: [
                    snt.LayerNorm(axis=-1, create_scale=True, create_offset=True),
                    snt.Linear(channels * 2),
                    snt.Dropout(dropout_rate),
                    tf.nn.relu,
                    snt.Linear(channels),
                    snt.Dropout(dropout_rate)], name="mlp")

            transformer = BlockSequential(lambda: [
                Sequential(lambda: [
                    Residual(Sequential(lambda: [
                        snt.LayerNorm(axis=-1, create_scale=True, create_offset=True,
                                      scale_init=snt.initializers.Ones()),
                        MultiheadAttention(**attention_kwargs, name=f"attention_{i}"),
                        snt.Dropout(dropout_rate)], name="mha")),
                    Residual(mlp())], name=f"transformer_block_{i}")
                for i in range(num_transformer_layers)], name="transformer")
            crop = TargetLengthCrop1D(target_length, name="target_input")
            final_pointwise = Sequential(lambda: [
                conv_block(channels * 2, 1),
                snt.Dropout(dropout_rate / 8),
                gelu], name="final_pointwise")
            self._trunk = Sequential([stem, conv_tower, transformer, crop, final_pointwise], name="trunk")

        with tf.name_scope("heads"):
            self._heads = {
                head: Sequential(lambda n=n: [snt.Linear(n), tf.nn.softplus], name=f"head_{head}")
                for head, n in self._config.heads.items()
            }
        self._build()

    # -- construction helpers ------------------------------------------------------------------
    def _build(self) -> None:
        """Create every variable with one float32 inference pass on a 2-bin dummy input.

        Under a tf.distribute strategy's scope the pass runs on its replicas: the
        cross-replica batch norms only run in a replica context.
        """
        if tf.distribute.has_strategy() and tf.distribute.in_cross_replica_context():
            tf.distribute.get_strategy().run(self._build_variables)
        else:
            self._build_variables()

    def _build_variables(self) -> None:
        with tf.init_scope(), compute_dtype_scope(tf.float32):
            x = tf.zeros([1, 2 * DOWNSAMPLING, 4])
            for index, layer in enumerate(self._trunk._layers):
                if index != 3:  # skip the crop: the dummy input is shorter than any target
                    x = call_layer(layer, x, False)
            for head in self._heads.values():
                head(x, is_training=False)
            # Fresh batch norms hold a moving variance of 0, which makes an untrained model
            # scale activations by 1/sqrt(eps) per block in inference mode (inf/NaN after a few
            # blocks). Start it at 1; restores overwrite it and the first training update
            # replaces it entirely (the EMA is debiased), so checkpoints are unaffected.
            for module in self._trunk.submodules:
                if isinstance(module, BaseBatchNorm):
                    module.moving_variance.average.assign(tf.ones_like(module.moving_variance.average))

    # -- properties ----------------------------------------------------------------------------
    @property
    def config(self) -> EnformerConfig:
        return self._config

    @property
    def trunk_module(self) -> Sequential:
        """The trunk ``Sequential`` (checkpoint path ``_trunk``); prefer :meth:`trunk` to run it."""
        return self._trunk

    @property
    def heads(self) -> Dict[str, Sequential]:
        """``{name: Sequential([Linear(tracks), softplus])}`` applied to the trunk embedding."""
        return self._heads

    @property
    def embedding_size(self) -> int:
        return 2 * self._config.channels

    @property
    def target_length(self) -> Optional[int]:
        return self._config.target_length

    @property
    def compute_dtype(self) -> tf.DType:
        return self._dtype

    @property
    def jit_compile(self) -> bool:
        return self._jit_compile

    def output_bins(self, length: int) -> int:
        """Bins returned for an input of ``length`` bp (raises for invalid lengths)."""
        return output_bins(length, self._config.target_length)

    # -- forward -------------------------------------------------------------------------------
    def _check_inputs(self, inputs: tf.Tensor) -> tf.Tensor:
        inputs = tf.convert_to_tensor(inputs)
        if inputs.shape.rank != 3 or inputs.shape[-1] != 4:
            raise SequenceLengthError(f"expected one-hot input [batch, length, 4], got shape {inputs.shape}")
        check_length(inputs.shape[1], self._config.target_length)
        return inputs if inputs.dtype == tf.float32 else tf.cast(inputs, tf.float32)

    def _active_dtype(self) -> tf.DType:
        return getattr(_policy, "model_dtype", None) or self._dtype

    def _trunk_impl(self, inputs: tf.Tensor, is_training: bool) -> tf.Tensor:
        with compute_dtype_scope(self._active_dtype()):
            return self._trunk(inputs, is_training=is_training)

    def _heads_impl(self, embedding: tf.Tensor, is_training: bool,
                    heads: Optional[Sequence[str]]) -> Dict[str, tf.Tensor]:
        names = list(self._heads) if heads is None else list(heads)
        unknown = [name for name in names if name not in self._heads]
        if unknown:
            raise InputError(f"unknown head(s) {unknown}: this model has {list(self._heads)}")
        with compute_dtype_scope(self._active_dtype()):
            return {name: self._heads[name](embedding, is_training=is_training) for name in names}

    def _full_impl(self, inputs: tf.Tensor, is_training: bool) -> Dict[str, tf.Tensor]:
        return self._heads_impl(self._trunk_impl(inputs, is_training), is_training, None)

    def _compiled(self, key: str, fn: Callable) -> Callable:
        if key not in self._cache.functions:
            self._cache.functions[key] = tf.function(fn, jit_compile=True, autograph=False)
        return self._cache.functions[key]

    @no_autograph
    def trunk(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        """Trunk embedding: ``[B, L, 4]`` one-hot -> ``[B, bins, 2 * channels]`` float32."""
        inputs = self._check_inputs(inputs)
        if self._jit_compile:
            return self._compiled(f"trunk_{bool(is_training)}_{self._active_dtype().name}", lambda x: self._trunk_impl(x, bool(is_training)))(inputs)
        return self._trunk_impl(inputs, is_training)

    @no_autograph
    def apply_heads(self, embedding: tf.Tensor, is_training: bool = False,
                    heads: Optional[Sequence[str]] = None) -> Dict[str, tf.Tensor]:
        """Species heads on a trunk embedding: ``[B, bins, 2C] -> {name: [B, bins, tracks]}``."""
        return self._heads_impl(embedding, is_training, heads)

    @no_autograph
    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> Dict[str, tf.Tensor]:
        """``[B, L, 4]`` one-hot -> ``{head: [B, bins, tracks]}`` (softplus, float32)."""
        inputs = self._check_inputs(inputs)
        if self._jit_compile:
            return self._compiled(f"full_{bool(is_training)}_{self._active_dtype().name}", lambda x: self._full_impl(x, bool(is_training)))(inputs)
        return self._full_impl(inputs, is_training)
