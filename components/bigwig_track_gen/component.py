"""BigWigTrackGen TFX component (thin shell over :mod:`.dataset`)."""
from __future__ import annotations

from typing import Optional, Sequence

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.bigwig_track_gen import executor
from components.records import DEFAULT_WINDOW_LENGTH


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

    def __init__(
        self,
        reference: str,
        mappable_bed: str,
        tracks: str,
        *,
        length: int = DEFAULT_WINDOW_LENGTH,
        width: int = 128,
        cutoff: float = 0.0,
        size: int = 25_000,
        batches: int = 1,
        seed: int = 0,
        step: int = 1,
        eval_chroms: Optional[Sequence[str]] = None,
        eval_fraction: Optional[float] = None,
        split_block: Optional[int] = None,
        sampling: str = "uniform",
        hotspots: Optional[str] = None,
        min_mappable: float = 1.0,
    ):
        """Args mirror the CLI flags: FASTA, mappable BED and track table paths (local paths or
        paths the workers can read), window ``length``/``width`` in bp, std ``cutoff``, ``size``
        windows per shard, ``batches`` shards, ``seed``, start ``step``, and either held-out
        ``eval_chroms`` or an ``eval_fraction`` of ``split_block``-bp genome blocks (default 0.1),
        and the window ``sampling`` (``uniform``, ``blocks``, or ``hotspots`` from the ``hotspots``
        BED with ``min_mappable`` coverage)."""
        spec = BigWigTrackGenSpec(
            reference=reference, mappable_bed=mappable_bed, tracks=tracks, length=length, width=width,
            cutoff=float(cutoff), size=size, batches=batches, seed=seed, step=step,
            eval_chroms=",".join(eval_chroms) if eval_chroms else None,
            eval_fraction=None if eval_fraction is None else float(eval_fraction),
            split_block=split_block, sampling=sampling, hotspots=hotspots, min_mappable=float(min_mappable),
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
