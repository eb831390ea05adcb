"""Trunk training on bigWig tracks (``training.mode: tracks`` with ``trunk: train``).

The way DeepMind trained Enformer on ENCODE tracks: the trunk and one species head
(``training.species``, ``Linear(n_tracks) + softplus``) are trained together, with reverse
complement and shift augmentation and a Poisson (or MSE) loss. The trained model is an
:class:`~trainer.enformer.Enformer` whose heads are the ones configured in
``model.overrides.heads``, so its export is a checkpoint in the published layout
(``module/_trunk/...``, ``module/_heads/<species>/...``): ``--baseline`` and ``model.baseline``
load it exactly like DeepMind's weights.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Iterator, List, Sequence, Tuple

import tensorflow as tf

from components import genome
from components.errors import InputError
from trainer import encoding, inputs
from trainer.enformer import Enformer
from trainer.heads import SpeciesHeadModel
from trainer.settings import ModelConfig, TrainingConfig
from trainer.training import EpochResult, FitConfig, LossFn, Trainer, mse_loss, poisson_loss

LOG = logging.getLogger(__name__)
SHUFFLE_BUFFER = 1024


def track_loss(name: str) -> LossFn:
    """The configured loss over ``[B, bins, T]`` targets (``poisson`` or ``mse``)."""
    return {"poisson": poisson_loss, "mse": mse_loss}[name]


def check_species_head(enformer: Enformer, species: str, n_tracks: int, dataset: str) -> None:
    """The head ``species`` must predict exactly the dataset's ``n_tracks`` tracks."""
    heads = dict(enformer.config.heads)
    if heads.get(species) != n_tracks:
        raise InputError(
            f"{dataset}: the track dataset has {n_tracks} track(s), but the Enformer's {species!r} head "
            f"predicts {heads.get(species, 'no')} (heads: {heads}); configure it with "
            f"model.overrides.heads: {{{species}: {n_tracks}}}")


def shift_codes(codes: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
    """``[L]`` codes moved by ``shift`` bp (positive: right), N-filled; the length is unchanged."""
    length = tf.shape(codes)[0]
    padded = tf.concat([tf.fill([tf.abs(shift)], tf.constant(genome.N_CODE, codes.dtype)), codes,
                        tf.fill([tf.abs(shift)], tf.constant(genome.N_CODE, codes.dtype))], axis=0)
    return padded[tf.abs(shift) - shift: tf.abs(shift) - shift + length]


def augmented_track_dataset(file_patterns: Sequence[str], n_tracks: int, batch_size: int, seed: int,
                            reverse_complement: bool, max_shift: int) -> tf.data.Dataset:
    """Infinite, shuffled, deterministic training batches for trunk training.

    Every window is shifted by a uniform ``[-max_shift, max_shift]`` bp and, when
    ``reverse_complement``, reverse complemented with probability 1/2 (its target bins then
    reversed), both drawn from stateless randomness keyed by ``(seed, element index)``.

    Yields:
      ``(one_hot [B, L, 4] float32, targets [B, bins, n_tracks] float32)``.
    """
    windows = inputs.track_records(file_patterns, n_tracks).shuffle(
        SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).repeat()

    def augment(index: tf.Tensor, window: Tuple[tf.Tensor, tf.Tensor]) -> Tuple[tf.Tensor, tf.Tensor]:
        codes, target = window
        if max_shift:
            shift = inputs.random_offset(index, tf.constant(2 * max_shift), seed) - max_shift
            codes = shift_codes(codes, shift)
        if reverse_complement:
            flip = inputs.coin(index, seed)
            codes = tf.cond(flip, lambda: encoding.reverse_complement_codes(codes), lambda: codes)
            target = tf.cond(flip, lambda: tf.reverse(target, axis=[0]), lambda: target)
        return encoding.one_hot(codes), target

    return (windows.enumerate().map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))


def eval_track_batches(file_patterns: Sequence[str], n_tracks: int, batch_size: int) -> Iterator:
    """One forward-strand pass in record order: ``(one_hot [B, L, 4], targets [B, bins, T])``."""
    return iter(inputs.track_records(file_patterns, n_tracks)
                .map(lambda codes, target: (encoding.one_hot(codes), target)).batch(batch_size))


def fit_trunk(enformer: Enformer, training: TrainingConfig, train_files: Sequence[str], eval_files: Sequence[str],
              n_tracks: int, work_dir: str, fit_config: FitConfig
              ) -> Tuple[SpeciesHeadModel, Trainer, List[EpochResult]]:
    """Train ``enformer``'s trunk and ``training.species`` head on the track records (resumable in ``work_dir``).

    Returns the model, the :class:`~trainer.training.Trainer` and the per-epoch results.
    """
    model = SpeciesHeadModel(enformer, training.species)
    train_data = augmented_track_dataset(train_files, n_tracks, training.batch, training.seed,
                                         training.reverse_complement, training.max_shift)
    trainer = Trainer(model, track_loss(training.loss), fit_config, work_dir)
    results = trainer.fit(lambda skip: iter(train_data.skip(skip)),
                          lambda: eval_track_batches(eval_files, n_tracks, training.batch))
    return model, trainer, results


def trunk_metadata(model_config: ModelConfig, training: TrainingConfig, tracks: Sequence[str]) -> dict:
    """Export metadata of a trained trunk (the published-layout Enformer)."""
    return {"mode": "tracks", "trunk": "train", "species": training.species, "tracks": list(tracks),
            "baseline": model_config.baseline, "model_config": dataclasses.asdict(model_config),
            "training": dataclasses.asdict(training)}
