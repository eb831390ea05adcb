"""Pipeline configuration: one YAML file, validated on load, with ``--set key=value`` overrides.

Top-level keys (see ``pipeline/configs/demo.yaml`` for a complete example):

``pipeline_name``, ``pipeline_root``
    Name and root directory (local path or ``gs://``) of the pipeline's artifacts.
``metadata_path``
    SQLite ML Metadata file for local runs (default ``<pipeline_root>/metadata.sqlite``).
``runner``
    ``beam`` (BeamDagRunner, default) or ``local`` (LocalDagRunner).
``enable_cache``
    TFX caching (default true): unchanged inputs reuse earlier component outputs.
``beam_pipeline_args``
    Arguments for every Beam-based component (e.g. DirectRunner multi-processing, Dataflow).
``payloads``
    Keyword arguments of :class:`components.payload_example_gen.component.PayloadExampleGen`.
``tracks``
    Keyword arguments of :class:`components.bigwig_track_gen.component.BigWigTrackGen`.
``model``, ``training``, ``evaluation``, ``push``
    The dataclasses below.

Exactly one of ``payloads`` (``training.mode: finetune``) or ``tracks`` (``training.mode:
tracks``) drives a run. Relative paths are relative to the working directory.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional, Sequence

from components.genome import InputError
from pipeline.config_schema import apply_override, check_keyword_arguments, load_dataclass
from trainer.settings import ModelConfig, TrainingConfig

RUNNERS = ("beam", "local")


@dataclasses.dataclass
class EvaluationConfig:
    """Blessing thresholds: value floors and "no worse than the latest blessed model"."""

    min_pearson_r: float = 0.0
    min_spearman_rho: Optional[float] = None
    max_pearson_r_drop: Optional[float] = 0.0


@dataclasses.dataclass
class PushConfig:
    """Where blessed models are pushed (versioned sub-directories)."""

    destination: str = ""


@dataclasses.dataclass
class PipelineConfig:
    pipeline_name: str
    pipeline_root: str
    metadata_path: str = ""
    runner: str = "beam"
    enable_cache: bool = True
    beam_pipeline_args: List[str] = dataclasses.field(default_factory=list)
    payloads: Optional[Dict[str, Any]] = None
    tracks: Optional[Dict[str, Any]] = None
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    push: PushConfig = dataclasses.field(default_factory=PushConfig)
    source: str = ""  # the file it was loaded from (set by load_config)

    def validate(self, where: str) -> None:
        if self.runner not in RUNNERS:
            raise InputError(f"{where}.runner: expected one of {RUNNERS}, got {self.runner!r}")
        data_section = "payloads" if self.training.mode == "finetune" else "tracks"
        if getattr(self, data_section) is None:
            raise InputError(f"{where}.{data_section}: required when training.mode is {self.training.mode!r}")
        if self.payloads is not None:
            from components.payload_example_gen.component import PayloadExampleGen

            self.payloads = check_keyword_arguments(PayloadExampleGen.__init__, self.payloads, f"{where}.payloads", skip=("range_config",))
        if self.tracks is not None:
            from components.bigwig_track_gen.component import BigWigTrackGen

            self.tracks = check_keyword_arguments(BigWigTrackGen.__init__, self.tracks, f"{where}.tracks")
        if not self.metadata_path:
            self.metadata_path = os.path.join(self.pipeline_root, "metadata.sqlite")
        if not self.push.destination:
            self.push.destination = os.path.join(self.pipeline_root, "serving")


def load_config(path: str, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Read, override (``training.epochs=3``) and validate a YAML pipeline config."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        raise InputError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of settings at the top level")
    for assignment in overrides:
        apply_override(raw, assignment)
    config = load_dataclass(PipelineConfig, raw, where=os.path.basename(path))
    config.source = path
    return config
