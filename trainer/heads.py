"""Output heads on the Enformer trunk and the composite models the trainer fits and exports.

* :class:`AttentionHead` -- the payload head's self-attention over trunk bins, with the three
  published configurations (``key_size/value_size/num_heads``): SingleHead 64/64 ``(64, 64, 1)``,
  SingleHead 64/128 ``(64, 128, 1)``, MultiHead 64/64 ``(64, 64, 4)``.
* :class:`PayloadModel` -- trunk -> attention -> ``flatten`` (original layout; the dense layer
  then fixes the number of bins, i.e. the input length) or ``mean`` over bins (length
  agnostic) -> ``Dense(1, softplus)``: one activity per sequence.
* :class:`TrackModel` -- trunk (frozen) -> ``Dense(n_tracks, softplus)`` per bin, for new
  bigWig tracks.

The module layout matches the original project's checkpoints (Zenodo 10.5281/zenodo.13363228),
so its fine-tuned models load unchanged and ours load in its code: a :class:`PayloadModel`'s
``_layers`` are ``[trunk, attention (_q/_k/_v kernels), flatten, dense (kernel, bias)]``, saved
as ``tf.train.Checkpoint(module=<Enformer>, finetune=<PayloadModel>)``, and a track head is
saved as ``tf.train.Checkpoint(head=<Dense>)`` (writing, reading and the key names:
:mod:`trainer.checkpoints`). The dense layers here are Sonnet modules whose variables are named
like Keras 2 (``kernel``, ``bias``) for that reason.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Optional, Tuple

import sonnet as snt
import tensorflow as tf

from components.errors import InputError
from trainer.enformer import (DOWNSAMPLING, Enformer, TrainingAware, call_layer, moving_batch_norm_statistics,
                              no_autograph)
from trainer.settings import POOLINGS, TRUNK_BATCH_NORMS


_ACTIVATIONS = {None: None, "linear": None, "softplus": tf.nn.softplus, "relu": tf.nn.relu}


class Dense(snt.Module):
    """Fully connected layer over the last axis: ``[..., d_in] -> [..., units]``.

    Variables ``kernel [d_in, units]`` and ``bias [units]`` (names as Keras 2, so original
    checkpoints restore); created at the first call. Default init as Keras: Glorot uniform.
    """

    def __init__(self, units: int, activation: Optional[str] = None, use_bias: bool = True,
                 kernel_init: Optional[snt.initializers.Initializer] = None, name: Optional[str] = None):
        super().__init__(name=name)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(_ACTIVATIONS)}, got {activation!r}")
        self.units = units
        self._activation = activation
        self._use_bias = use_bias
        self._kernel_init = kernel_init or snt.initializers.VarianceScaling(1.0, "fan_avg", "uniform")

    @property
    def built(self) -> bool:
        return hasattr(self, "kernel")

    @property
    def input_size(self) -> Optional[int]:
        return self.kernel.shape[0] if self.built else None

    def _build(self, input_size: int) -> None:
        with self.name_scope:
            self.kernel = tf.Variable(self._kernel_init([input_size, self.units], tf.float32), name="kernel")
            if self._use_bias:
                self.bias = tf.Variable(tf.zeros([self.units]), name="bias")

    def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
        if not self.built:
            self._build(inputs.shape[-1])
        elif inputs.shape[-1] != self.kernel.shape[0]:
            raise InputError(f"{self.name}: input has {inputs.shape[-1]} features, the layer was built for "
                             f"{self.kernel.shape[0]}")
        flat = tf.reshape(inputs, [-1, inputs.shape[-1]])  # 2-D matmul: small weight gradient
        out = tf.matmul(flat, self.kernel)
        if self._use_bias:
            out = out + self.bias
        activation = _ACTIVATIONS[self._activation]
        if activation is not None:
            out = activation(out)
        lead = inputs.shape[:-1].as_list()
        if sum(d is None for d in lead) <= 1:
            return tf.reshape(out, [-1 if d is None else d for d in lead] + [self.units])
        return tf.reshape(out, tf.concat([tf.shape(inputs)[:-1], [self.units]], 0))


class AttentionHead(snt.Module, TrainingAware):
    """Self-attention over trunk bins: ``[B, T, E] -> [B, T, num_heads * value_size]``.

    Bias-free projections ``_q``, ``_k`` (``num_heads * key_size``) and ``_v``
    (``num_heads * value_size``) initialised like the original (VarianceScaling(2.0)); logits
    scaled by ``key_size ** -0.5``; heads concatenated in head-major order.

    ``dropout_rate`` applies to attention weights when training. Default 0.0: the original
    layer declared 0.1, but its container never passed ``training`` to Keras layers, so the
    published heads were trained without it.
    """

    def __init__(self, key_size: int = 64, value_size: int = 64, num_heads: int = 1,
                 dropout_rate: float = 0.0, name: str = "attention"):
        super().__init__(name=name)
        self.key_size, self.value_size, self.num_heads = key_size, value_size, num_heads
        self._dropout_rate = dropout_rate
        init = snt.initializers.VarianceScaling(scale=2.0)
        self._q = Dense(key_size * num_heads, use_bias=False, kernel_init=init, name="q")
        self._k = Dense(key_size * num_heads, use_bias=False, kernel_init=init, name="k")
        self._v = Dense(value_size * num_heads, use_bias=False, kernel_init=init, name="v")

    @property
    def output_size(self) -> int:
        return self.value_size * self.num_heads

    def _split(self, x: tf.Tensor) -> tf.Tensor:
        """``[B, T, H * S] -> [B, H, T, S]``."""
        length = x.shape[1]
        x = tf.reshape(x, [-1, length, self.num_heads, x.shape[-1] // self.num_heads])
        return tf.transpose(x, [0, 2, 1, 3])

    @no_autograph
    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        length = inputs.shape[1]
        q = self._split(self._q(inputs)) * self.key_size ** -0.5
        k = self._split(self._k(inputs))
        v = self._split(self._v(inputs))
        weights = tf.nn.softmax(tf.matmul(q, k, transpose_b=True))  # [B, H, T, T]
        if is_training and self._dropout_rate > 0:
            weights = tf.nn.dropout(weights, rate=self._dropout_rate)
        out = tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])  # [B, T, H, V]
        return tf.reshape(out, [-1, length, self.output_size])


@snt.allow_empty_variables
class Flatten(snt.Module):
    """``[B, T, D] -> [B, T * D]`` (variable free; the original head's Keras ``Flatten``)."""

    def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.reshape(inputs, [-1, inputs.shape[1] * inputs.shape[2]])


@snt.allow_empty_variables
class MeanPool(snt.Module):
    """``[B, T, D] -> [B, D]``: mean over bins, so any input length works."""

    def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(inputs, axis=1)


def _rms(x: tf.Tensor) -> float:
    """Root mean square over all elements of ``x``."""
    return float(tf.sqrt(tf.reduce_mean(tf.square(tf.cast(x, tf.float32)))))


class _Untracked:
    """Holds a reference without making it a checkpoint dependency of the owner."""

    def __init__(self, value: Any) -> None:
        self.value = value


class PayloadModel(snt.Module, TrainingAware):
    """Trunk + payload activity head: ``[B, L, 4]`` one-hot -> ``[B, 1]`` activity (softplus).

    ``_layers = [trunk, AttentionHead, Flatten | MeanPool, Dense(1, softplus)]`` -- the
    original ``finetune`` Sequential, so the original checkpoint format fits it.

    Args:
      enformer: the model whose trunk is fine-tuned (its species heads stay usable).
      key_size, value_size, num_heads: attention configuration (the published ones: module docstring).
      pooling: ``'flatten'`` (original: dense over all bins -> fixed input length) or
        ``'mean'`` (length agnostic).
      input_length: bp; builds the head now (required by ``flatten`` before a restore).
      train_trunk: if False, ``trainable_variables`` is the head only and the trunk runs in
        inference mode.
      trunk_batch_norm: ``'batch'`` (the trunk's batch norms use batch statistics in training
        and update their moving averages) or ``'moving'`` (they keep normalising with their
        moving statistics, which stay as loaded: for a pretrained trunk,
        :func:`trainer.enformer.moving_batch_norm_statistics`).
    """

    def __init__(self, enformer: Enformer, key_size: int = 64, value_size: int = 64, num_heads: int = 1,
                 pooling: str = "flatten", input_length: Optional[int] = None, dropout_rate: float = 0.0,
                 train_trunk: bool = True, trunk_batch_norm: str = "batch", name: str = "finetune"):
        super().__init__(name=name)
        if pooling not in POOLINGS:
            raise InputError(f"payload head pooling must be one of {POOLINGS}, got {pooling!r}")
        self._base = _Untracked(enformer)
        self.pooling = pooling
        self.train_trunk = train_trunk
        self.trunk_batch_norm = trunk_batch_norm
        attention = AttentionHead(key_size, value_size, num_heads, dropout_rate)
        pool = Flatten(name="flatten") if pooling == "flatten" else MeanPool(name="mean_pool")
        self._layers = [enformer.trunk_module, attention, pool, Dense(1, activation="softplus", name="dense")]
        if input_length is not None:
            self.build(input_length)

    @property
    def enformer(self) -> Enformer:
        return self._base.value

    @property
    def attention(self) -> AttentionHead:
        return self._layers[1]

    @property
    def pool(self) -> snt.Module:
        """The ``Flatten`` or ``MeanPool`` between attention and dense."""
        return self._layers[2]

    @property
    def dense(self) -> Dense:
        return self._layers[3]

    @property
    def head_layers(self) -> Tuple[snt.Module, ...]:
        """``(attention, pool, dense)``: everything after the trunk."""
        return (self.attention, self.pool, self.dense)

    @property
    def head_config(self) -> Dict[str, Any]:
        a = self.attention
        return dict(key_size=a.key_size, value_size=a.value_size, num_heads=a.num_heads, pooling=self.pooling)

    @property
    def input_bins(self) -> Optional[int]:
        """Bins the ``flatten`` head was built for (None: not built or length agnostic)."""
        if self.pooling != "flatten" or not self.dense.built:
            return None
        return self.dense.input_size // self.attention.output_size

    def build(self, input_length: int) -> None:
        """Create the head variables for inputs of ``input_length`` bp (no trunk pass needed)."""
        bins = self.enformer.output_bins(input_length)
        with tf.init_scope():
            self.head(tf.zeros([1, bins, self.enformer.embedding_size]))

    @no_autograph
    def head(self, embedding: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        """``[B, bins, 2C]`` trunk embedding -> ``[B, 1]`` activity."""
        bins = embedding.shape[1]
        if self.input_bins is not None and bins != self.input_bins:
            raise InputError(
                f"payload head (pooling='flatten', original layout) was built for {self.input_bins} bins "
                f"({self.input_bins * DOWNSAMPLING} bp) but got {bins} bins: the original head fixes the input "
                "length; cut windows of the built length, or train a length-agnostic head (pooling='mean')")
        return call_layer(self.dense, self.pooled_features(embedding, is_training), is_training)

    @no_autograph
    def pooled_features(self, embedding: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        """``[B, bins, 2C]`` trunk embedding -> ``[B, D]`` the dense layer's inputs (attention, pool)."""
        return call_layer(self.pool, call_layer(self.attention, embedding, is_training), is_training)

    @property
    def trunk_batch_norm(self) -> str:
        return self._trunk_batch_norm

    @trunk_batch_norm.setter
    def trunk_batch_norm(self, value: str) -> None:
        if value not in TRUNK_BATCH_NORMS:
            raise InputError(f"trunk_batch_norm must be one of {TRUNK_BATCH_NORMS}, got {value!r}")
        self._trunk_batch_norm = value

    @no_autograph
    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        statistics = moving_batch_norm_statistics() if self.trunk_batch_norm == "moving" else contextlib.nullcontext()
        with statistics:
            embedding = self.enformer.trunk(inputs, is_training=is_training and self.train_trunk)
        return self.head(embedding, is_training)

    def scale_head_to_embedding(self, embedding: tf.Tensor) -> Dict[str, float]:
        """Data-dependent initialisation of a fresh head on the trunk's embedding ``[B, bins, 2C]``
        of one batch (inference mode).

        The head's default initialisation assumes inputs of about unit scale. A pretrained trunk's
        embedding can be far louder (a trunk trained on the demo tracks: RMS 7.7, peaks of 84,
        against 0.26 for a random trunk); then the attention softmax saturates and every
        ``Dense(1, softplus)`` pre-activation lands far below zero (-12 to -31), where the softplus
        has no gradient and the head never learns. So the attention projections are divided by
        the embedding's RMS, and the dense kernel by the pooled features' RMS, when that RMS
        exceeds 1 (quieter inputs keep the default initialisation). The trunk is untouched.
        Call before training, never on a trained head.

        Returns:
          ``{'embedding_rms', 'pooled_rms'}`` measured before scaling.
        """
        embedding_rms = _rms(embedding)
        if embedding_rms > 1.0:
            for projection in (self.attention._q, self.attention._k, self.attention._v):
                projection.kernel.assign(projection.kernel / embedding_rms)
        pooled_rms = _rms(self.pooled_features(embedding))
        if pooled_rms > 1.0:
            self.dense.kernel.assign(self.dense.kernel / pooled_rms)
        return {"embedding_rms": embedding_rms, "pooled_rms": pooled_rms}

    @property
    def head_variables(self) -> Tuple[tf.Variable, ...]:
        return tuple(v for layer in self.head_layers for v in layer.trainable_variables)

    @property
    def trainable_variables(self) -> Tuple[tf.Variable, ...]:
        if self.train_trunk:
            return tuple(self._layers[0].trainable_variables) + self.head_variables
        return self.head_variables


class TrackModel(snt.Module):
    """Trunk + new track head: ``[B, L, 4]`` -> ``[B, bins, n_tracks]`` (softplus).

    ``_layers = [trunk, Dense(n_tracks, softplus)]``. The trunk is frozen: it always runs in
    inference mode (so batch-norm statistics never drift while the head trains) and
    ``trainable_variables`` is the head only. The original format saves ``head`` alone.
    """

    def __init__(self, enformer: Enformer, n_tracks: int, name: str = "tracks"):
        super().__init__(name=name)
        if n_tracks < 1:
            raise InputError(f"a track head needs at least one track, got {n_tracks}")
        self._base = _Untracked(enformer)
        head = Dense(n_tracks, activation="softplus", name="head")
        self._layers = [enformer.trunk_module, head]
        with tf.init_scope():
            head(tf.zeros([1, 1, enformer.embedding_size]))

    @property
    def enformer(self) -> Enformer:
        return self._base.value

    @property
    def head(self) -> Dense:
        return self._layers[1]

    @property
    def n_tracks(self) -> int:
        return self.head.units

    @no_autograph
    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        embedding = self.enformer.trunk(inputs, is_training=False)
        return self.head(embedding)

    @property
    def head_variables(self) -> Tuple[tf.Variable, ...]:
        return tuple(self.head.trainable_variables)

    @property
    def trainable_variables(self) -> Tuple[tf.Variable, ...]:
        return self.head_variables


class HeadOnly(snt.Module):
    """A track model's head applied to cached trunk embeddings: ``[B, bins, 2C] -> [B, bins, T]``.

    What the Trainer fits for track heads, so its checkpoints hold the head under ``head``.
    """

    def __init__(self, track_model: TrackModel):
        super().__init__(name="head_only")
        self.head = track_model.head

    def __call__(self, embedding: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        return self.head(embedding)


class SpeciesHeadModel(snt.Module):
    """An Enformer's trunk and one of its species heads, both trainable.

    ``[B, L, 4]`` one-hot -> ``[B, bins, tracks]`` (softplus). Training checkpoints hold the
    Enformer under ``_enformer``; the other species heads are kept but not trained.
    """

    def __init__(self, enformer: Enformer, species: str):
        super().__init__(name="species_head_model")
        if species not in enformer.heads:
            raise InputError(f"training.species: {species!r} is not a head of this Enformer (heads: "
                             f"{dict(enformer.config.heads)}); set model.overrides.heads")
        self._enformer = enformer
        self._species = species

    @property
    def enformer(self) -> Enformer:
        return self._enformer

    @property
    def n_tracks(self) -> int:
        return int(self._enformer.config.heads[self._species])

    @no_autograph
    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        embedding = self._enformer.trunk(inputs, is_training=is_training)
        return self._enformer.apply_heads(embedding, is_training=is_training, heads=[self._species])[self._species]

    @property
    def trainable_variables(self) -> Tuple[tf.Variable, ...]:
        return (tuple(self._enformer.trunk_module.trainable_variables)
                + tuple(self._enformer.heads[self._species].trainable_variables))
