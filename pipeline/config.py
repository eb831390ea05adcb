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
``spans``
    Which assay batches (TFX spans, ``batch-{SPAN}/``) a run trains on: :class:`SpansConfig`.
``vertex``
    Vertex AI settings used by ``enformer-tfx compile``: :class:`VertexConfig`. Ignored by
    local runs, so one file can drive both.

Exactly one of ``payloads`` (``training.mode: finetune``) or ``tracks`` (``training.mode:
tracks``) drives a run. Relative paths are relative to the working directory.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Dict, List, Optional, Sequence

from components.genome import InputError
from components.payload_example_gen.params import SPAN_TOKEN
from pipeline.config_schema import apply_override, check_keyword_arguments, load_dataclass
from trainer.settings import ModelConfig, TrainingConfig

RUNNERS = ("beam", "local")
SPAN_MODES = ("latest", "pinned", "all")
_ACCELERATOR_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")


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
class SpansConfig:
    """Which assay batches a run trains on (payload mode; batches are TFX spans).

    ``latest`` (default): the newest ``batch-{SPAN}`` directory only; earlier batches reach the
    model through the warm start from the latest blessed model. ``pinned``: exactly ``span``
    (re-run or back-fill one batch; TFX ``RangeConfig.static_range``). ``all``: every batch's
    activity table in one dataset (``{SPAN}`` becomes ``*``); needs one payload FASTA covering
    all batches, because the FASTA path cannot follow several spans at once.
    """

    mode: str = "latest"
    span: Optional[int] = None


@dataclasses.dataclass
class VertexTrainerConfig:
    """Vertex AI custom training (CustomJob) for the Trainer; empty ``machine_type`` = off."""

    machine_type: str = ""
    accelerator_type: str = ""  # e.g. NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100
    accelerator_count: int = 0
    image: str = ""  # default: the image given to `enformer-tfx compile --image`
    boot_disk_size_gb: Optional[int] = None


@dataclasses.dataclass
class VertexEndpointConfig:
    """Push blessed models to a Vertex AI endpoint instead of a directory."""

    endpoint_name: str
    serving_image: str  # a Vertex prebuilt TensorFlow serving container matching TF 2.16
    machine_type: str = "n1-standard-4"
    min_replica_count: int = 1
    max_replica_count: int = 1


@dataclasses.dataclass
class VertexConfig:
    """Google Cloud settings of the compiled pipeline (``enformer-tfx compile``)."""

    project: str
    region: str = "us-central1"
    service_account: str = ""
    # Where deploy/Dockerfile puts the source tree; the compiled ImportSchemaGen reads
    # <source_dir>/schemas/ inside the container (schemas/ is data, not a Python package).
    source_dir: str = "/app"
    trainer: Optional[VertexTrainerConfig] = None
    endpoint: Optional[VertexEndpointConfig] = None

    @property
    def custom_training(self) -> bool:
        return self.trainer is not None and bool(self.trainer.machine_type)

    def validate(self, where: str) -> None:
        if not self.project:
            raise InputError(f"{where}.project: required (the Google Cloud project id)")
        if not self.region:
            raise InputError(f"{where}.region: required, e.g. us-central1")
        trainer = self.trainer
        if trainer is not None:
            key = f"{where}.trainer"
            if trainer.accelerator_type and not _ACCELERATOR_TYPE.match(trainer.accelerator_type):
                raise InputError(f"{key}.accelerator_type: expected a Vertex AcceleratorType name such as "
                                 f"NVIDIA_TESLA_T4, got {trainer.accelerator_type!r}")
            if trainer.accelerator_count < 0:
                raise InputError(f"{key}.accelerator_count: must be >= 0, got {trainer.accelerator_count}")
            if trainer.accelerator_type and trainer.accelerator_count < 1:
                raise InputError(f"{key}.accelerator_count: must be >= 1 when accelerator_type is set")
            if trainer.accelerator_count and not trainer.accelerator_type:
                raise InputError(f"{key}.accelerator_type: required when accelerator_count is set")
            if (trainer.accelerator_type or trainer.image) and not trainer.machine_type:
                raise InputError(f"{key}.machine_type: required for Vertex training, e.g. n1-standard-8")
        endpoint = self.endpoint
        if endpoint is not None:
            for name in ("endpoint_name", "serving_image"):
                if not getattr(endpoint, name):
                    raise InputError(f"{where}.endpoint.{name}: must not be empty")
            if not 1 <= endpoint.min_replica_count <= endpoint.max_replica_count:
                raise InputError(f"{where}.endpoint.max_replica_count: need 1 <= min_replica_count <= max_replica_count")


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
    spans: SpansConfig = dataclasses.field(default_factory=SpansConfig)
    vertex: Optional[VertexConfig] = None
    # Designer options (keyword arguments of components.designer.component.Designer); inputs
    # not given here come from ``payloads``.
    design: Optional[Dict[str, Any]] = None
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
        self._validate_spans(where)
        if self.design is not None:
            self._validate_design(where)
        if not self.metadata_path:
            self.metadata_path = os.path.join(self.pipeline_root, "metadata.sqlite")
        if not self.push.destination:
            self.push.destination = os.path.join(self.pipeline_root, "serving")

    def _validate_design(self, where: str) -> None:
        from components.designer.component import Designer
        from components.designer.design import DesignOptions

        key = f"{where}.design"
        if self.training.mode != "finetune" or self.payloads is None:
            raise InputError(f"{key}: the Designer proposes payloads; it needs training.mode: finetune and payloads")
        inherited = ("payload_fasta", "annotation_bed", "reference_fasta", "context", "construct_length")
        values = check_keyword_arguments(Designer.__init__, self.design, key,
                                         skip=("model", "model_blessing", "examples") + inherited)
        for name in inherited:
            if name in self.design:
                values[name] = self.design[name]
            elif self.payloads.get(name) is not None:
                values[name] = self.payloads[name]
            elif name != "construct_length":
                raise InputError(f"{key}.{name}: required (or set payloads.{name})")
        options = {name: values[name] for name in ("max_edits", "candidates", "batch_size", "acquisition", "beta",
                                                    "diversity", "objective", "seed", "shifts", "group")
                   if name in values}
        if "edits" in values:
            from components.designer.candidates import parse_edits

            options["edits"] = parse_edits(values["edits"])
        try:
            DesignOptions(**options).validate()
        except InputError as error:
            raise InputError(f"{key}: {error}") from None
        if values.get("acquisition") == "ucb" and self.model.ensemble < 2:
            raise InputError(f"{key}.acquisition: ucb needs an uncertainty; set model.ensemble: K (K >= 2) or use "
                             "greedy or diverse")
        self.design = values

    def _validate_spans(self, where: str) -> None:
        spans, key = self.spans, f"{where}.spans"
        if spans.mode not in SPAN_MODES:
            raise InputError(f"{key}.mode: expected one of {SPAN_MODES}, got {spans.mode!r}")
        if spans.mode == "latest":
            if spans.span is not None:
                raise InputError(f"{key}.span: only used with mode: pinned")
            return
        if self.training.mode != "finetune" or self.payloads is None:
            raise InputError(f"{key}.mode: {spans.mode!r} applies to payload batches (training.mode: finetune)")
        table = str(self.payloads.get("activity_table", ""))
        if not SPAN_TOKEN.search(table):
            raise InputError(f"{where}.payloads.activity_table: spans.mode {spans.mode!r} needs a {{SPAN}} "
                             f"placeholder, e.g. .../batch-{{SPAN}}/activity.tsv; got {table!r}")
        if spans.mode == "pinned":
            if spans.span is None or spans.span < 0:
                raise InputError(f"{key}.span: required (a span number >= 0) when mode is 'pinned'")
        else:  # all
            if spans.span is not None:
                raise InputError(f"{key}.span: only used with mode: pinned")
            for name in ("payload_fasta", "annotation_bed"):
                if SPAN_TOKEN.search(str(self.payloads.get(name) or "")):
                    raise InputError(
                        f"{where}.payloads.{name}: spans.mode 'all' reads every batch in one run, so this must be "
                        "one file covering all batches (no {SPAN}); or use spans.mode: latest")


def all_spans_pattern(path: str) -> str:
    """``.../batch-{SPAN}/activity.tsv`` -> ``.../batch-*/activity.tsv`` (every batch)."""
    return SPAN_TOKEN.sub("*", path)


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
