"""Training numerics: mixed precision (``training.precision``) and gradient checkpointing
(``training.recompute``), entered around every traced train step and evaluation pass.

``bfloat16`` follows the Keras ``mixed_bfloat16`` policy: variables and the optimiser's slots
stay float32; the Enformer trunk's matmuls and convolutions run in bfloat16 (operands cast at
use; their outputs, normalisation, softmax and the residual stream are float32); the species
and payload heads return float32 and the loss is computed in float32. bfloat16 has float32's
exponent range, so no loss scaling is needed. The exported SavedModel keeps the model's own
compute dtype (float32 unless the model was built otherwise).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import tensorflow as tf

from trainer import recompute as recompute_lib
from trainer.enformer import model_compute_dtype
from trainer.settings import PRECISIONS


def check_precision(precision: str) -> tf.DType:
    """``'float32' | 'bfloat16'`` -> the compute dtype (ValueError otherwise)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return tf.as_dtype(precision)


@contextlib.contextmanager
def step_scope(precision: str = "float32", recompute: bool = False, training: bool = True) -> Iterator[None]:
    """Run the model calls inside in ``precision``; with ``recompute`` and ``training``, draw one
    dropout seed for the step and checkpoint the trunk's blocks (:mod:`trainer.recompute`)."""
    dtype = check_precision(precision)
    with contextlib.ExitStack() as stack:
        stack.enter_context(model_compute_dtype(dtype))
        if recompute and training:
            stack.enter_context(recompute_lib.seeded_dropout(recompute_lib.draw_step_seed(), recompute=True))
        yield
