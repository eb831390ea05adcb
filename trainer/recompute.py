"""Gradient checkpointing (``tf.recompute_grad``) for the Enformer's transformer and conv-tower blocks.

With recomputation on, a block keeps only its input ``[B, L, C]`` for the backward pass and runs
its forward a second time when the gradient is needed: activation memory drops from every
block's intermediates to one block's at a time, for roughly one extra forward pass of compute.

Two things make the second forward differ from the first unless handled, and both are handled
here so that gradients equal the plain ones (within float rounding):

* Dropout. Stateful random ops draw new masks on the recomputation. Inside a
  :func:`seeded_dropout` scope every dropout is stateless, seeded by ``fold_in(step seed, k)``
  for the k-th dropout of a block, so the recomputation draws the same masks.
* Batch-norm statistics. A training-mode batch norm updates its moving averages on every
  call; the recomputation uses the batch statistics without updating them (so the moving
  averages advance once per step, as without recomputation).

The scopes are Python state read while a ``tf.function`` traces, like the compute-dtype policy.
"""
from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Callable, Iterator, Optional

import tensorflow as tf

_state = threading.local()


@dataclasses.dataclass
class _Scope:
    recompute: bool
    seed: Optional[tf.Tensor]  # [2] int64 stateless seed, or None: stateful dropout
    update_statistics: bool = True
    counter: int = 0

    def next_seed(self) -> tf.Tensor:
        seed = tf.random.experimental.stateless_fold_in(self.seed, self.counter)
        self.counter += 1
        return seed


def _current() -> Optional[_Scope]:
    return getattr(_state, "scope", None)


@contextlib.contextmanager
def _enter(scope: _Scope) -> Iterator[_Scope]:
    previous = _current()
    _state.scope = scope
    try:
        yield scope
    finally:
        _state.scope = previous


def draw_step_seed() -> tf.Tensor:
    """A fresh ``[2]`` int64 stateless seed from TensorFlow's global generator (one per step)."""
    return tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64)


@contextlib.contextmanager
def seeded_dropout(seed: tf.Tensor, recompute: bool = False) -> Iterator[None]:
    """Within: dropout masks derive from ``seed`` (``[2]`` int64), and with ``recompute`` the
    Enformer's transformer and conv-tower blocks recompute their forward in the backward pass."""
    with _enter(_Scope(recompute=recompute, seed=tf.convert_to_tensor(seed, tf.int64))):
        yield


def dropout(x: tf.Tensor, rate: float) -> tf.Tensor:
    """Training-mode dropout of ``x`` (any shape): stateless inside :func:`seeded_dropout`."""
    scope = _current()
    if scope is None or scope.seed is None:
        return tf.nn.dropout(x, rate=rate)
    return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=scope.next_seed())


def update_statistics() -> bool:
    """False while a block's forward is being recomputed: batch norms must not update twice."""
    scope = _current()
    return scope is None or scope.update_statistics


def run_block(block: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor) -> tf.Tensor:
    """``block(x)`` for one training-mode block ``[B, L, C] -> [B, L', C']``, checkpointed when
    the active scope asks for recomputation.

    Each block gets its own seed (the scope's next), so the masks drawn inside do not depend on
    whether the block is recomputed.
    """
    scope = _current()
    if scope is None or scope.seed is None:
        return block(x)
    block_seed = scope.next_seed()
    if not scope.recompute:
        with _enter(_Scope(recompute=False, seed=block_seed)):
            return block(x)
    calls = []

    def forward(inputs: tf.Tensor) -> tf.Tensor:
        first = not calls  # the forward pass, then the recomputation inside the gradient
        calls.append(None)
        with _enter(_Scope(recompute=False, seed=block_seed, update_statistics=first)):
            return block(inputs)

    return tf.recompute_grad(forward)(x)
