"""BigWigTrackGen TFX component (thin shell over :mod:`.dataset`)."""
from __future__ import annotations

import dataclasses
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.bigwig_track_gen import executor
from components.bigwig_track_gen.params import TrackDatasetConfig


class BigWigTrackGenSpec(ComponentSpec):
    """Parameters mirror ``enformer-tfx make-track-dataset``; ``eval_chroms`` is comma-separated."""

    PARAMETERS = {
        "reference": ExecutionParameter(type=str),
        "mappable_bed": ExecutionParameter(type=str),
        "tracks": ExecutionParameter(type=str),
        "length": ExecutionParameter(type=int, optional=True),
        "width": ExecutionParameter(type=int, optional=True),
        "cutoff": ExecutionParameter(type=float, optional=True),
        "size": ExecutionParameter(type=int, optional=True),
        "batches": ExecutionParameter(type=int, optional=True),
        "seed": ExecutionParameter(type=int, optional=True),
        "step": ExecutionParameter(type=int, optional=True),
        "eval_chroms": ExecutionParameter(type=str, optional=True),
        "eval_fraction": ExecutionParameter(type=float, optional=True),
        "split_block": ExecutionParameter(type=int, optional=True),
        "sampling": ExecutionParameter(type=str, optional=True),
        "hotspots": ExecutionParameter(type=str, optional=True),
        "min_mappable": ExecutionParameter(type=float, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class BigWigTrackGen(base_beam_component.BaseBeamComponent):
    """Sample genomic windows from mappable intervals and bin bigWig tracks into ``Examples``.

    Output ``examples``: splits ``train`` and ``eval`` (gzipped TFRecords of track examples),
    plus ``tracks.tsv`` (target column order), ``windows.bed`` and ``dataset_info.json``.
    """

    SPEC_CLASS = BigWigTrackGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, reference: str, mappable_bed: str, tracks: str, **options: Any):
        """``reference`` FASTA, ``mappable_bed`` BED and ``tracks`` table paths (local paths or paths
        the workers can read); ``options`` are the other fields of :class:`TrackDatasetConfig`
        (window ``length``/``width``, ``cutoff``, ``size``, ``batches``, ``seed``, ``step``,
        ``eval_chroms`` or ``eval_fraction`` of ``split_block``-bp blocks, ``sampling``,
        ``hotspots``, ``min_mappable``), with its defaults, validated here: a bad pipeline config
        fails when the pipeline is built, not in the executor."""
        config = TrackDatasetConfig(reference=reference, mappable_bed=mappable_bed, tracks=tracks, **options)
        parameters = {**dataclasses.asdict(config), "eval_chroms": ",".join(config.eval_chroms) or None}
        spec = BigWigTrackGenSpec(**parameters, examples=types.Channel(type=standard_artifacts.Examples))
        super().__init__(spec=spec)
