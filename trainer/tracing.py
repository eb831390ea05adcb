"""Trace a model call once for every batch size.

Tracing a Sonnet model is most of a short run's time (a tiny model's inference graph takes
seconds to build, its data takes milliseconds to run). ``tf.function(..., reduce_retracing=True)``
traces twice when the last batch is smaller: once for the first batch's shape, again for the
relaxed one. :func:`batch_polymorphic` traces once, with the batch dimension left open, and
without autograph (the model has no tensor-dependent Python control flow).
"""
from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf


def batch_polymorphic(fn: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor]:
    """``fn`` (``[B, ...] -> outputs``) compiled on its first call for any ``B`` with that call's
    other dimensions and dtype."""
    compiled: Optional[Callable[[tf.Tensor], tf.Tensor]] = None

    def call(inputs: tf.Tensor) -> tf.Tensor:
        nonlocal compiled
        if compiled is None:
            spec = tf.TensorSpec([None, *inputs.shape[1:]], inputs.dtype)
            compiled = tf.function(fn, input_signature=[spec], autograph=False)
        return compiled(inputs)

    return call
