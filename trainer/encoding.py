"""In-graph sequence encoding: uint8 code bytes -> one-hot, reverse complement, windows.

Records store sequences as raw bytes of uint8 codes ``A=0 C=1 G=2 T=3 N=4`` (see
``components/genome.py`` and :mod:`components.records`). Everything here is TensorFlow so that the same
ops run in ``tf.data`` pipelines and inside exported SavedModels (serving decodes raw records).

One-hot layout is ``[..., length, 4]`` float32 in A,C,G,T order; code 4 (N) and any other
value is the all-zero row, as in the reference Enformer's ``one_hot_encode``.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import tensorflow as tf

from components import genome

_ASCII_TO_CODE = tf.constant(genome.encode_sequence("".join(chr(i) for i in range(128))).tolist() + [genome.N_CODE] * 128,
                             dtype=tf.uint8)

TensorLike = Union[tf.Tensor, np.ndarray]


def codes_from_bytes(sequence_bytes: TensorLike) -> tf.Tensor:
    """Decode raw uint8-code bytes.

    Args:
      sequence_bytes: scalar or ``[batch]`` tf.string; within a batch all strings must have
        the same length (cut windows first with :func:`center_window_bytes`).
    Returns:
      ``[length]`` or ``[batch, length]`` uint8 codes.
    """
    return tf.io.decode_raw(sequence_bytes, tf.uint8)


def one_hot(codes: TensorLike, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """``[..., length]`` integer codes -> ``[..., length, 4]`` one-hot (A,C,G,T).

    ``tf.one_hot`` gives an all-zero row for indices outside ``[0, 4)``, which is exactly the
    reference treatment of N (code 4) and of any unexpected code.
    """
    return tf.one_hot(tf.cast(codes, tf.int32), depth=4, dtype=dtype)


def one_hot_from_bytes(sequence_bytes: TensorLike, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """tf.string of uint8 codes (scalar or ``[batch]``) -> ``[(batch,) length, 4]`` one-hot."""
    return one_hot(codes_from_bytes(sequence_bytes), dtype)


def codes_from_text(text: TensorLike) -> tf.Tensor:
    """ASCII DNA text (tf.string, any case) -> uint8 codes, N for anything not ACGT.

    The in-graph twin of :func:`components.genome.encode_sequence`, for signatures that accept
    plain DNA strings.
    """
    raw = tf.io.decode_raw(text, tf.uint8)
    # Bytes >= 128 are not ASCII: map them to N via the upper half of the table.
    return tf.gather(_ASCII_TO_CODE, tf.cast(raw, tf.int32))


def reverse_complement_codes(codes: TensorLike) -> tf.Tensor:
    """Reverse complement ``[..., length]`` codes along the last axis (N and others -> N)."""
    codes = tf.convert_to_tensor(codes)
    complement = tf.where(codes < 4, 3 - codes, tf.constant(genome.N_CODE, codes.dtype))
    return tf.reverse(complement, axis=[-1])


def reverse_complement_one_hot(one_hot_sequence: TensorLike) -> tf.Tensor:
    """Reverse complement ``[..., length, 4]`` one-hot.

    With A,C,G,T channel order the complement is the channel axis reversed (A<->T, C<->G),
    and zero rows (N) stay zero.
    """
    return tf.reverse(one_hot_sequence, axis=[-2, -1])


def center_window_bytes(sequence_bytes: TensorLike, length: int) -> tf.Tensor:
    """Cut the centred ``length``-byte window from each string (per-example offset).

    The offset is ``(len(s) - length) // 2``, so for odd surplus the extra base stays on the
    right, like :func:`components.signal_output.resize_interval`. Raises ``InvalidArgumentError`` at
    run time when a string is shorter than ``length``.

    Args:
      sequence_bytes: scalar or ``[batch]`` tf.string (lengths may differ per example).
      length: window length in bp.
    Returns:
      Same shape as the input, every string exactly ``length`` bytes.
    """
    sequence_bytes = tf.convert_to_tensor(sequence_bytes, tf.string)
    lengths = tf.strings.length(sequence_bytes)
    check = tf.debugging.assert_greater_equal(
        lengths, tf.cast(length, lengths.dtype),
        message=f"sequence shorter than the model input length {length} bp")
    with tf.control_dependencies([check]):
        offsets = (lengths - length) // 2
    return tf.strings.substr(sequence_bytes, offsets, tf.fill(tf.shape(offsets), tf.cast(length, offsets.dtype)))
