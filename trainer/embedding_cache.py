"""Trunk-embedding cache for training track heads on a frozen trunk.

With the trunk frozen, its output for a given window and strand never changes, so it is
computed once and every epoch trains the head on the stored embeddings: after the cache is
built the trunk is never called again (``EmbeddingCache.trunk_calls`` counts the calls).

Layout in ``directory`` (NumPy memory maps, so RAM stays bounded by the batch, not the data):

- ``codes.npy``      ``[N, length]`` uint8 window codes (read once from the TFRecords);
- ``targets.npy``    ``[N, bins, tracks]`` float32 targets (forward strand);
- ``embeddings.npy`` ``[N, strands, bins, channels]`` float32, strand 0 forward, 1 reverse
  complement (RC embeddings are stored in the RC window's own bin order; the target for strand 1
  is the forward target with its bins reversed);
- ``complete`` marker written last: a half-built cache is rebuilt, never used.

The training order is a deterministic stream of ``(window, strand)`` keys
(:func:`key_stream`), shared by the cached and the uncached paths, so both see the same data in
the same order and train the head to the same weights.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Callable, Dict, Iterator, Tuple

import numpy as np
import tensorflow as tf

from components import genome
from trainer import encoding, inputs

LOG = logging.getLogger(__name__)
TrunkFn = Callable[[tf.Tensor], tf.Tensor]


def key_stream(n_windows: int, batch_size: int, seed: int, reverse_complement: bool) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Infinite ``(window_indices [B], strands [B])`` batches: per-epoch permutation, random strand."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n_windows)
        strands = rng.integers(0, 2, size=n_windows) if reverse_complement else np.zeros(n_windows, dtype=np.int64)
        for start in range(0, n_windows - batch_size + 1, batch_size):
            yield order[start : start + batch_size], strands[start : start + batch_size]


class EmbeddingCache:
    """Window codes, targets and trunk embeddings of one split, stored as memory maps.

    Args:
      directory: where the arrays live (created).
      file_patterns: the split's track TFRecords.
      n_tracks: number of target tracks.
      trunk_fn: ``one_hot [B, L, 4] -> embeddings [B, bins, C]`` of the frozen trunk.
      strands: 1 (forward only) or 2 (forward and reverse complement).
      batch_size: trunk batch size while building.
    """

    def __init__(self, directory: str, file_patterns, n_tracks: int, trunk_fn: TrunkFn, strands: int = 2, batch_size: int = 8):
        self.directory = directory
        self.trunk_fn = trunk_fn
        self.trunk_calls = 0
        self.strands = strands
        os.makedirs(directory, exist_ok=True)
        if not self._is_complete(file_patterns, strands):
            self._build(file_patterns, n_tracks, batch_size)
        self.codes = np.load(self._path("codes"), mmap_mode="r")
        self.targets = np.load(self._path("targets"), mmap_mode="r")
        self.embeddings = np.load(self._path("embeddings"), mmap_mode="r")

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, f"{name}.npy")

    def _signature(self, file_patterns, strands: int) -> str:
        return json.dumps({"files": inputs.list_files(file_patterns), "strands": strands})

    def _is_complete(self, file_patterns, strands: int) -> bool:
        marker = os.path.join(self.directory, "complete")
        return os.path.exists(marker) and open(marker).read() == self._signature(file_patterns, strands)

    def _build(self, file_patterns, n_tracks: int, batch_size: int) -> None:
        marker = os.path.join(self.directory, "complete")
        if os.path.exists(marker):
            os.remove(marker)
        records = inputs.track_records(file_patterns, n_tracks)
        # A counting pass sizes the memory maps, so no split is ever held in RAM.
        n_windows = int(records.reduce(0, lambda count, _: count + 1))
        if not n_windows:
            raise ValueError(f"no track examples in {file_patterns}")
        LOG.info("embedding cache: %d windows x %d strand(s) -> %s", n_windows, self.strands, self.directory)
        arrays: Dict[str, np.memmap] = {}

        def memmap(name: str, dtype, shape) -> np.memmap:
            if name not in arrays:
                arrays[name] = np.lib.format.open_memmap(self._path(name), mode="w+", dtype=dtype, shape=shape)
            return arrays[name]

        start, report_every = 0, max(1, n_windows // 10)
        for codes, targets in records.batch(batch_size).as_numpy_iterator():
            end = start + len(codes)
            memmap("codes", np.uint8, (n_windows,) + codes.shape[1:])[start:end] = codes
            memmap("targets", np.float32, (n_windows,) + targets.shape[1:])[start:end] = targets
            for strand in range(self.strands):
                window = codes if strand == 0 else genome.reverse_complement_codes(codes)
                output = np.asarray(self.embed(tf.constant(window)), dtype=np.float32)
                memmap("embeddings", np.float32, (n_windows, self.strands) + output.shape[1:])[start:end, strand] = output
            if end // report_every != start // report_every or end == n_windows:  # about every 10 %
                LOG.info("embedding cache: %d/%d windows embedded", end, n_windows)
            start = end
        for array in arrays.values():
            array.flush()
        arrays.clear()
        with open(marker, "w") as handle:  # written last: marks the cache usable
            handle.write(self._signature(file_patterns, self.strands))

    def embed(self, codes: tf.Tensor) -> tf.Tensor:
        """Run the trunk on ``[B, L]`` codes (counted in ``trunk_calls``)."""
        self.trunk_calls += 1
        return self.trunk_fn(encoding.one_hot(codes))

    def __len__(self) -> int:
        return len(self.codes)

    def target_batch(self, indices: np.ndarray, strands: np.ndarray) -> np.ndarray:
        """``[B, bins, T]`` targets; reverse-complement keys get their bins reversed."""
        targets = np.asarray(self.targets[indices])
        return np.where(strands[:, None, None] == 1, targets[:, ::-1, :], targets)

    def embedding_batch(self, indices: np.ndarray, strands: np.ndarray) -> np.ndarray:
        """``[B, bins, C]`` cached embeddings for the keys (no trunk call)."""
        return np.asarray(self.embeddings[indices, strands])

    def computed_embedding_batch(self, indices: np.ndarray, strands: np.ndarray) -> np.ndarray:
        """``[B, bins, C]`` embeddings computed by the trunk now (the uncached path)."""
        codes = np.asarray(self.codes[indices])
        codes = np.where(strands[:, None] == 1, genome.reverse_complement_codes(codes), codes)
        return np.asarray(self.embed(tf.constant(codes)))

    def ordered_batches(self, batch_size: int) -> Iterator[Tuple[tf.Tensor, tf.Tensor]]:
        """One forward-strand pass in record order (evaluation), from the cache."""
        for start in range(0, len(self), batch_size):
            indices = np.arange(start, min(start + batch_size, len(self)))
            strands = np.zeros_like(indices)
            yield tf.constant(self.embedding_batch(indices, strands)), tf.constant(self.target_batch(indices, strands))

    def batches(self, batch_size: int, seed: int, reverse_complement: bool, cached: bool = True) -> Iterator[Tuple[tf.Tensor, tf.Tensor]]:
        """Infinite ``(embeddings [B, bins, C], targets [B, bins, T])`` in :func:`key_stream` order."""
        if reverse_complement and self.strands < 2:
            raise ValueError("reverse-complement training needs a cache built with strands=2")
        fetch = self.embedding_batch if cached else self.computed_embedding_batch
        for indices, strands in key_stream(len(self), batch_size, seed, reverse_complement):
            yield tf.constant(fetch(indices, strands)), tf.constant(self.target_batch(indices, strands))
