"""Embedding cache: reverse-complement keys carry their targets with the bins reversed.

The trunk here is a real, variable-free function (per-bin base counts), so the expected values
are written from the window bases alone, never from the cache's own strand handling.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from components import records
from trainer.embedding_cache import EmbeddingCache, key_stream

LENGTH, WIDTH = 64, 16
BINS = LENGTH // WIDTH
N_WINDOWS = 6


def base_counts(one_hot: tf.Tensor) -> tf.Tensor:
    """``[B, L, 4] -> [B, bins, 4]``: A/C/G/T counts per 16 bp bin (a trunk with known outputs)."""
    return tf.reduce_sum(tf.reshape(one_hot, [-1, BINS, WIDTH, 4]), axis=2)


def window_codes() -> np.ndarray:
    """``[N, L]`` A/C/G/T codes, different in every bin."""
    return np.random.default_rng(3).integers(0, 4, size=(N_WINDOWS, LENGTH)).astype(np.uint8)


def forward_targets(codes: np.ndarray) -> np.ndarray:
    """``[N, bins, 2]``: track 0 = GC bases of the bin (same on both strands), track 1 = 10 i + bin."""
    gc = ((codes == 1) | (codes == 2)).reshape(N_WINDOWS, BINS, WIDTH).sum(axis=2)
    label = 10 * np.arange(N_WINDOWS)[:, None] + np.arange(BINS)[None, :]
    return np.stack([gc, label], axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> EmbeddingCache:
    root = tmp_path_factory.mktemp("rc_cache")
    codes, targets = window_codes(), forward_targets(window_codes())
    path = os.path.join(records.split_dir(str(root), "train"), records.shard_name(0, 1))
    with records.ShardWriter(path, compresslevel=1) as writer:
        for i in range(N_WINDOWS):
            writer.write(records.track_example(codes[i], targets[i].astype(np.float16), "chr1", LENGTH * i, LENGTH * (i + 1)))
    return EmbeddingCache(str(root / "cache"), records.shard_pattern(str(root), "train"), 2, base_counts, strands=2, batch_size=4)


def test_reverse_complement_targets_are_forward_bins_reversed(cache):
    # Window i, strand 1: bin b holds forward bin (BINS - 1 - b), i.e. label 10 i + 3 - b.
    got = cache.target_batch(np.array([0, 2, 2, 5]), np.array([1, 0, 1, 1]))
    expected_labels = [[3, 2, 1, 0], [20, 21, 22, 23], [23, 22, 21, 20], [53, 52, 51, 50]]
    np.testing.assert_array_equal(got[:, :, 1], expected_labels)


@pytest.mark.parametrize("cached", [True, False])
def test_every_training_batch_pairs_each_bin_with_its_own_target(cache, cached):
    """GC per bin of the window the head sees (either strand) equals the target's GC track, bin by bin."""
    batches = cache.batches(batch_size=3, seed=4, reverse_complement=True, cached=cached)
    keys = key_stream(N_WINDOWS, 3, 4, True)
    seen_strands = set()
    for _ in range(6):
        (embedding, target), (indices, strands) = next(batches), next(keys)
        embedding, target = embedding.numpy(), target.numpy()
        np.testing.assert_array_equal(target[:, :, 0], embedding[:, :, 1] + embedding[:, :, 2])
        for row, (index, strand) in enumerate(zip(indices, strands)):
            bins = np.arange(BINS)[::-1] if strand else np.arange(BINS)
            np.testing.assert_array_equal(target[row, :, 1], 10 * index + bins)
            seen_strands.add(int(strand))
    assert seen_strands == {0, 1}
