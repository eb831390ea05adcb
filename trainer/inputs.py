"""tf.data input functions over the gzipped TFRecords written by the example generators.

Record formats, specs and decoding are :mod:`components.records` (the record contract):

- payload record: ``sequence`` (uint8 codes of the whole construct, window + padding),
  ``activity`` float, ``name``/``group`` bytes, annotation lists;
- track record: ``sequence`` (uint8 codes, one window), ``target`` (float16 bytes
  ``[bins, tracks]`` row-major), ``chrom``, ``start``, ``end``.

Training cuts each payload window at a random offset (a fresh offset every time the example
is seen, reproducible from the seed via stateless random ops keyed by the element index) and
optionally reverse-complements it; evaluation uses fixed, evenly spaced offsets (one offset =
the centred window). Track records are only read here (:func:`track_records`): track heads train
on a frozen trunk through :mod:`trainer.embedding_cache`, which does their strand handling.
"""
from __future__ import annotations

import gzip
from typing import List, Sequence, Tuple, Union

import tensorflow as tf

from components import records
from components.errors import InputError
from components.records import decode_target
from trainer import encoding

FilePatterns = Union[str, Sequence[str]]


def list_files(file_patterns: FilePatterns) -> List[str]:
    """Sorted files matching the glob pattern(s) (TFX passes patterns); error when none match."""
    patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
    files = sorted({path for pattern in patterns for path in tf.io.gfile.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {patterns}")
    return files


def check_window_fits(file_patterns: FilePatterns, window_length: int) -> int:
    """Construct length of the first payload record; :class:`InputError` when no record matches or
    the construct is shorter than ``window_length`` (checked before a model is built: training would
    otherwise fail inside the input pipeline after the model and its logs exist)."""
    try:
        path = list_files(file_patterns)[0]
    except FileNotFoundError as error:
        raise InputError(str(error)) from None
    with tf.io.gfile.GFile(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as handle:
        first = next(records.iter_frames(handle, path), None)
    if first is None:
        raise InputError(f"{path}: no records")
    construct = len(records.parse_payload_record(first)[records.SEQUENCE])
    if construct < window_length:
        raise InputError(f"{path}: the dataset's constructs are {construct} bp, shorter than the model window "
                         f"({window_length} bp): train with --length (training.window_length) <= {construct}, "
                         f"or rebuild the dataset with make-dataset --length >= {window_length}")
    return construct


def _records(file_patterns: FilePatterns) -> tf.data.Dataset:
    # Deterministic interleave keeps the record order fixed for a given file list.
    return tf.data.TFRecordDataset(
        list_files(file_patterns), compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE
    )


def random_offset(index: tf.Tensor, max_offset: tf.Tensor, seed: int) -> tf.Tensor:
    """Uniform offset in ``[0, max_offset]`` from stateless randomness keyed by (seed, index)."""
    return tf.random.stateless_uniform(
        [], seed=tf.stack([tf.constant(seed, tf.int64), index]), maxval=max_offset + 1, dtype=tf.int32
    )


def coin(index: tf.Tensor, seed: int) -> tf.Tensor:
    """A reproducible fair coin per element (True = reverse complement)."""
    return tf.random.stateless_uniform([], seed=tf.stack([tf.constant(seed + 1, tf.int64), index])) < 0.5


def payload_dataset(
    file_patterns: FilePatterns,
    window_length: int,
    batch_size: int,
    training: bool,
    seed: int = 0,
    reverse_complement: bool = False,
    num_eval_offsets: int = 1,
    shuffle_buffer: int = 1024,
) -> tf.data.Dataset:
    """Payload windows and activities.

    Training (infinite, shuffled): each element is a window cut at a random offset, reverse
    complemented with probability 1/2 when ``reverse_complement``. Evaluation (one pass, file
    order): ``num_eval_offsets`` fixed windows per payload.

    Yields:
      ``(one_hot [batch, window_length, 4] float32, activity [batch] float32)``; evaluation
      batches also keep the example order ``payload-major, offset-minor``.
    """
    spec = {key: value for key, value in records.payload_feature_spec().items() if key in (records.SEQUENCE, records.ACTIVITY)}
    examples = _records(file_patterns).map(
        lambda r: tf.io.parse_single_example(r, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )

    def max_offset_of(sequence: tf.Tensor) -> tf.Tensor:
        surplus = tf.strings.length(sequence) - window_length
        check = tf.debugging.assert_non_negative(
            surplus, message=f"payload construct shorter than the window ({window_length} bp)"
        )
        with tf.control_dependencies([check]):
            return tf.identity(surplus)

    if training:
        examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()

        def cut_random(index: tf.Tensor, features: dict) -> Tuple[tf.Tensor, tf.Tensor]:
            sequence = features[records.SEQUENCE]
            offset = random_offset(index, max_offset_of(sequence), seed)
            codes = encoding.codes_from_bytes(tf.strings.substr(sequence, offset, window_length))
            if reverse_complement:
                codes = tf.cond(coin(index, seed), lambda: encoding.reverse_complement_codes(codes), lambda: codes)
            return codes, features[records.ACTIVITY]

        windows = examples.enumerate().map(cut_random, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:

        def cut_fixed(features: dict) -> tf.data.Dataset:
            sequence = features[records.SEQUENCE]
            max_offset = max_offset_of(sequence)
            if num_eval_offsets <= 1:
                offsets = tf.reshape(max_offset // 2, [1])
            else:
                fractions = tf.linspace(0.0, 1.0, num_eval_offsets)
                offsets = tf.cast(tf.round(fractions * tf.cast(max_offset, tf.float32)), tf.int32)
            cut = tf.strings.substr(tf.fill(tf.shape(offsets), sequence), offsets, tf.fill(tf.shape(offsets), window_length))
            codes = encoding.codes_from_bytes(cut)
            return tf.data.Dataset.from_tensor_slices((codes, tf.fill(tf.shape(offsets), features[records.ACTIVITY])))

        windows = examples.flat_map(cut_fixed)
    return (
        windows.map(lambda codes, activity: (encoding.one_hot(codes), activity), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size, drop_remainder=training)
        .prefetch(tf.data.AUTOTUNE)
    )


def track_records(file_patterns: FilePatterns, n_tracks: int) -> tf.data.Dataset:
    """Unbatched ``(codes [length] uint8, target [bins, n_tracks] float32)`` in file order."""
    return _records(file_patterns).map(
        lambda r: _parse_track(r, n_tracks), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def _parse_track(record: tf.Tensor, n_tracks: int) -> Tuple[tf.Tensor, tf.Tensor]:
    features = tf.io.parse_single_example(record, records.track_feature_spec())
    return encoding.codes_from_bytes(features[records.SEQUENCE]), decode_target(features[records.TARGET], n_tracks)
