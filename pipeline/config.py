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
    Keyword arguments of :class:`components.payload_example_gen.component.PayloadExampleGen`:
    :class:`components.payload_example_gen.params.PayloadParams`.
``tracks``
    Keyword arguments of :class:`components.bigwig_track_gen.component.BigWigTrackGen`:
    :class:`components.bigwig_track_gen.params.TrackDatasetConfig`.
``model``, ``training``, ``evaluation``, ``push``
    The dataclasses below.
``spans``
    Which assay batches (TFX spans, ``batch-{SPAN}/``) a run trains on: :class:`SpansConfig`.
``design``
    The Designer (next batch from a blessed model): keyword arguments of
    :class:`components.designer.component.Designer`.
``interpret``
    Attribution report of held-out payloads of a blessed model:
    :class:`components.interpret.params.InterpretConfig`.
``vertex``
    Vertex AI settings used by ``enformer-tfx compile``: :class:`VertexConfig`. Ignored by
    local runs, so one file can drive both.

Exactly one of ``payloads`` (``training.mode: finetune``) or ``tracks`` (``training.mode:
tracks``) drives a run. Relative paths are relative to the working directory.

Every section is a validating dataclass (:mod:`components.config_validation`, pydantic v2):
loading imports no TensorFlow/TFX/Beam, so a bad key or value is reported at once as one line
naming its dotted key; :func:`config_json_schema` is the JSON schema for editors.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Dict, List, Literal, Optional, Sequence

from pydantic import Field, field_validator, model_validator

from components.bigwig_track_gen.params import TrackDatasetConfig
from components.config_validation import KeyedValueError, json_schema, settings_dataclass, validate_settings
from components.errors import InputError
from components.interpret.params import HELD_OUT_SPLIT, INTERPRET_INPUTS, InterpretConfig
from components.payload_example_gen.params import SPAN_TOKEN, PayloadParams
from trainer.settings import ModelConfig, TrainingConfig

RUNNERS = ("beam", "local")
SPAN_MODES = ("latest", "pinned", "all")
_ACCELERATOR_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")


@settings_dataclass
class EvaluationConfig:
    """Blessing thresholds: value floors and "no worse than the latest blessed model".

    ``max_pearson_r_drop: null`` drops the comparison: the Evaluator then takes no baseline
    model, so with ``training.warm_start: false`` a rerun on unchanged data is served wholly
    from the TFX cache (the demo's pretraining stage).

    ``cross_validation: K`` (K >= 2; 0 = off) adds a k-fold cross-validation of the same training
    on every payload of the run (an estimate reported beside the Evaluator's; it blesses nothing).
    """

    min_pearson_r: float = 0.0
    min_spearman_rho: Optional[float] = None
    max_pearson_r_drop: Optional[float] = 0.0
    cross_validation: int = Field(default=0, ge=0)

    @field_validator("cross_validation")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("must be 0 (off) or a number of folds K >= 2, got 1")
        return value


@settings_dataclass
class PushConfig:
    """Where blessed models are pushed (versioned sub-directories; default ``<pipeline_root>/serving``)."""

    destination: str = ""


@settings_dataclass
class SpansConfig:
    """Which assay batches a run trains on (payload mode; batches are TFX spans).

    ``latest`` (default): the newest ``batch-{SPAN}`` directory only; earlier batches reach the
    model through the warm start from the latest blessed model. ``pinned``: exactly ``span``
    (re-run or back-fill one batch; TFX ``RangeConfig.static_range``). ``all``: every batch's
    activity table in one dataset (``{SPAN}`` becomes ``*``); needs one payload FASTA covering
    all batches, because the FASTA path cannot follow several spans at once.
    """

    mode: Literal[SPAN_MODES] = "latest"  # type: ignore[valid-type]
    span: Optional[int] = Field(default=None, ge=0)


@settings_dataclass
class VertexTrainerConfig:
    """Vertex AI custom training (CustomJob) for the Trainer; empty ``machine_type`` = off."""

    machine_type: str = ""
    accelerator_type: str = ""  # e.g. NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100
    accelerator_count: int = Field(default=0, ge=0)
    # Machines: 1 = one machine (several GPUs train under MirroredStrategy); N > 1 = a chief and
    # N - 1 workers under MultiWorkerMirroredStrategy (training.batch is the global batch).
    replica_count: int = Field(default=1, ge=1)
    image: str = ""  # default: the image given to `enformer-tfx compile --image`
    boot_disk_size_gb: Optional[int] = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> "VertexTrainerConfig":
        if self.accelerator_type and not _ACCELERATOR_TYPE.match(self.accelerator_type):
            raise KeyedValueError("accelerator_type", "expected a Vertex AcceleratorType name such as "
                                  f"NVIDIA_TESLA_T4, got {self.accelerator_type!r}")
        if self.accelerator_type and self.accelerator_count < 1:
            raise KeyedValueError("accelerator_count", "must be >= 1 when accelerator_type is set")
        if self.accelerator_count and not self.accelerator_type:
            raise KeyedValueError("accelerator_type", "required when accelerator_count is set")
        if (self.accelerator_type or self.image) and not self.machine_type:
            raise KeyedValueError("machine_type", "required for Vertex training, e.g. n1-standard-8")
        return self


@settings_dataclass
class VertexEndpointConfig:
    """Push blessed models to a Vertex AI endpoint instead of a directory."""

    endpoint_name: str = Field(min_length=1)
    serving_image: str = Field(min_length=1)  # a Vertex prebuilt TensorFlow serving container matching TF 2.16
    machine_type: str = "n1-standard-4"
    min_replica_count: int = Field(default=1, ge=1)
    max_replica_count: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _replicas(self) -> "VertexEndpointConfig":
        if self.min_replica_count > self.max_replica_count:
            raise KeyedValueError("max_replica_count", "need 1 <= min_replica_count <= max_replica_count")
        return self


@settings_dataclass
class VertexConfig:
    """Google Cloud settings of the compiled pipeline (``enformer-tfx compile``)."""

    project: str = Field(min_length=1)  # the Google Cloud project id
    region: str = Field(default="us-central1", min_length=1)
    service_account: str = ""
    # Where deploy/Dockerfile puts the source tree; the compiled ImportSchemaGen reads
    # <source_dir>/schemas/ inside the container (schemas/ is data, not a Python package).
    source_dir: str = "/app"
    trainer: Optional[VertexTrainerConfig] = None
    endpoint: Optional[VertexEndpointConfig] = None

    @property
    def custom_training(self) -> bool:
        return self.trainer is not None and bool(self.trainer.machine_type)


@settings_dataclass
class PipelineConfig:
    pipeline_name: str
    pipeline_root: str
    metadata_path: str = ""  # default <pipeline_root>/metadata.sqlite
    runner: Literal[RUNNERS] = "beam"  # type: ignore[valid-type]
    enable_cache: bool = True
    beam_pipeline_args: List[str] = dataclasses.field(default_factory=list)
    payloads: Optional[PayloadParams] = None
    tracks: Optional[TrackDatasetConfig] = None
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    push: PushConfig = dataclasses.field(default_factory=PushConfig)
    spans: SpansConfig = dataclasses.field(default_factory=SpansConfig)
    vertex: Optional[VertexConfig] = None
    # Designer options (keyword arguments of components.designer.component.Designer); inputs
    # not given here come from ``payloads``.
    design: Optional[Dict[str, Any]] = None
    # Attribution report of held-out payloads after the Evaluator (blessed models only).
    interpret: Optional[InterpretConfig] = None
    source: str = Field(default="", exclude=True)  # the file it was loaded from (set by load_config)

    @model_validator(mode="after")
    def _sections_agree(self) -> "PipelineConfig":
        data_section = "payloads" if self.training.mode == "finetune" else "tracks"
        if getattr(self, data_section) is None:
            raise KeyedValueError(data_section, f"required when training.mode is {self.training.mode!r}")
        self._check_spans()
        if self.design is not None:
            self._check_design()
        if self.evaluation.cross_validation:
            self._check_cross_validation()
        if self.interpret is not None and (self.training.mode != "finetune" or self.payloads is None):
            raise KeyedValueError("interpret", "the attribution step explains payload activity; it needs "
                                  "training.mode: finetune and payloads")
        if self.interpret is not None and HELD_OUT_SPLIT not in self.payloads.folds:
            raise KeyedValueError("interpret", f"explains payloads of the {HELD_OUT_SPLIT!r} split; "
                                  f"payloads.folds has only {', '.join(self.payloads.folds)}")
        if not self.metadata_path:
            self.metadata_path = os.path.join(self.pipeline_root, "metadata.sqlite")
        if not self.push.destination:
            self.push.destination = os.path.join(self.pipeline_root, "serving")
        return self

    def _check_cross_validation(self) -> None:
        if self.training.mode != "finetune" or self.payloads is None:
            raise KeyedValueError("evaluation.cross_validation", "cross-validates payload models; it needs "
                                  "training.mode: finetune and payloads")
        if self.payloads.split_mode != "payload":
            raise KeyedValueError("evaluation.cross_validation", "folds hold out whole payloads; it needs "
                                  f"payloads.split_mode: payload, got {self.payloads.split_mode!r}")

    def _check_design(self) -> None:
        # The Designer's own option checks; numpy only, so a config is still checked before TFX loads.
        from components.designer.candidates import parse_edits
        from components.designer.design import COMPONENT_PARAMETERS, DESIGN_INPUTS, DesignOptions

        if self.training.mode != "finetune" or self.payloads is None:
            raise KeyedValueError("design", "the Designer proposes payloads; it needs training.mode: finetune and payloads")
        design = dict(self.design or {})
        unknown = sorted(set(design) - set(COMPONENT_PARAMETERS))
        if unknown:
            raise KeyedValueError(f"design.{unknown[0]}", f"unknown key; expected one of: {', '.join(COMPONENT_PARAMETERS)}")
        for name in DESIGN_INPUTS:
            if name not in design:
                inherited = getattr(self.payloads, name, None)
                if inherited is not None:
                    design[name] = inherited
                elif name != "construct_length":
                    raise KeyedValueError(f"design.{name}", f"required (or set payloads.{name})")
        options = {name: design[name] for name in ("max_edits", "candidates", "batch_size", "acquisition", "beta",
                                                    "diversity", "objective", "seed", "shifts", "group")
                   if name in design}
        if "edits" in design:
            options["edits"] = parse_edits(design["edits"])
        try:
            DesignOptions(**options).validate()
        except InputError as error:
            raise KeyedValueError("design", str(error)) from None
        if design.get("acquisition") == "ucb" and self.model.ensemble < 2:
            raise KeyedValueError("design.acquisition", "ucb needs an uncertainty; set model.ensemble: K (K >= 2) "
                                  "or use greedy or diverse")
        self.design = design

    def _check_spans(self) -> None:
        mode = self.spans.mode
        if mode != "pinned" and self.spans.span is not None:
            raise KeyedValueError("spans.span", "only used with mode: pinned")
        if mode == "latest":
            return
        if self.training.mode != "finetune" or self.payloads is None:
            raise KeyedValueError("spans.mode", f"{mode!r} applies to payload batches (training.mode: finetune)")
        table = self.payloads.activity_table
        if not SPAN_TOKEN.search(table):
            raise KeyedValueError("payloads.activity_table", f"spans.mode {mode!r} needs a {{SPAN}} placeholder, "
                                  f"e.g. .../batch-{{SPAN}}/activity.tsv; got {table!r}")
        if mode == "pinned" and self.spans.span is None:
            raise KeyedValueError("spans.span", "required (a span number >= 0) when mode is 'pinned'")
        if mode == "all":
            for name in ("payload_fasta", "annotation_bed"):
                if SPAN_TOKEN.search(getattr(self.payloads, name) or ""):
                    raise KeyedValueError(
                        f"payloads.{name}", "spans.mode 'all' reads every batch in one run, so this must be "
                        "one file covering all batches (no {SPAN}); or use spans.mode: latest")

    def interpret_arguments(self) -> Dict[str, Any]:
        """Keyword arguments of :class:`components.interpret.component.Interpreter`: the
        ``interpret:`` settings plus how the examples were built (from ``payloads:``)."""
        if self.interpret is None or self.payloads is None:
            return {}
        arguments = dataclasses.asdict(self.interpret)
        arguments.update({name: getattr(self.payloads, name) for name in INTERPRET_INPUTS})
        return arguments

    def data_arguments(self) -> Dict[str, Any]:
        """Keyword arguments of the run's example generator (``payloads`` or ``tracks``)."""
        section = self.payloads if self.training.mode == "finetune" else self.tracks
        return dataclasses.asdict(section) if section is not None else {}


def all_spans_pattern(path: str) -> str:
    """``.../batch-{SPAN}/activity.tsv`` -> ``.../batch-*/activity.tsv`` (every batch)."""
    return SPAN_TOKEN.sub("*", path)


def apply_override(mapping: Dict[str, Any], assignment: str, where: str = "--set") -> None:
    """Apply ``a.b.c=value`` (value parsed as YAML) to a nested plain mapping, in place."""
    import yaml

    if "=" not in assignment:
        raise InputError(f"{where} {assignment!r}: expected KEY=VALUE, e.g. training.epochs=3")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = mapping
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InputError(f"{where} {assignment!r}: {part} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(raw)


def load_config(path: str, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Read, override (``training.epochs=3``) and validate a YAML pipeline config.

    Raises :class:`InputError` with one line naming the file and each failing dotted key
    (``demo.yaml: training.epochs: must be >= 1, got 0``).
    """
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
    if "source" in raw:
        raise InputError(f"{os.path.basename(path)}: source: unknown key (set by the loader)")
    config = validate_settings(PipelineConfig, raw, where=os.path.basename(path))
    config.source = path
    return config


def config_json_schema() -> Dict[str, Any]:
    """JSON schema of the pipeline YAML (``enformer-tfx config-schema``), for editor completion."""
    schema = json_schema(PipelineConfig)
    schema.get("properties", {}).pop("source", None)
    schema["title"] = "enformer-tfx pipeline config"
    return schema
