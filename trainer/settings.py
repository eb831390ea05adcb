"""Model and training settings shared by the TFX run_fn, the pipeline config and the CLI.

The pipeline passes them to the Trainer as ``custom_config = {"model": {...}, "training":
{...}}`` (plain JSON), and ``enformer-tfx train`` builds them from its flags.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Literal, Optional

from pydantic import Field, field_validator, model_validator

from components.config_validation import KeyedValueError, settings_dataclass, validate_settings
from components.records import DEFAULT_WINDOW_LENGTH

TRAINING_MODES = ("finetune", "tracks")
# Tracks mode: ``frozen`` trains a new head on the frozen trunk (embedding cache); ``train``
# trains the trunk together with one of its species heads (pretraining, as DeepMind did).
TRUNK_MODES = ("frozen", "train")
TRACK_LOSSES = ("poisson", "mse")
# Payload fine-tuning: the trunk's batch norms on batch statistics (``batch``, the original) or on
# their moving statistics, kept as loaded (``moving``: a pretrained trunk's genome-wide ones).
TRUNK_BATCH_NORMS = ("batch", "moving")
LR_SCHEDULES = ("constant", "cosine")
# ``predict``'s default peak track (head, track): track 10 of the published mouse head (DNase, ES cells).
PREDICT_PEAK_TRACK = ("mouse", 10)
# Payload-head poolings; defined here (not in trainer.heads) so config code needs no TensorFlow.
POOLINGS = ("flatten", "mean")
# Training compute precisions (trainer.precision): bfloat16 = mixed precision, float32 variables.
PRECISIONS = ("float32", "bfloat16")
BIN_SIZE = 128


@settings_dataclass
class ModelConfig:
    """Which Enformer, which head, and where its starting weights come from.

    ``preset`` names a trunk configuration (``tiny``, ``small``, ``full``; default ``full``, the
    published architecture a checkpoint baseline has); ``overrides`` changes individual
    hyper-parameters of it. ``baseline`` is ``random`` (explicit random init), a Sonnet
    checkpoint directory, or ``tensorhub[:HANDLE]``. The payload head is attention over the
    trunk's bins (``key_size``/``value_size``/``num_heads``: 64/64/1, 64/128/1 or 64/64/4 as
    published), then ``pooling``: ``flatten`` (the original layout; fixes the window length) or
    ``mean`` (length agnostic), then ``Dense(1, softplus)``. ``window_length`` is in bp.
    """

    preset: str = "full"
    overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)
    baseline: str = "random"
    pooling: Literal[POOLINGS] = "flatten"  # type: ignore[valid-type]
    key_size: int = Field(default=64, ge=1)
    value_size: int = Field(default=64, ge=1)
    num_heads: int = Field(default=1, ge=1)
    window_length: int = Field(default=DEFAULT_WINDOW_LENGTH, ge=BIN_SIZE)
    # K > 1: K payload heads on the fine-tuned trunk; the export serves their mean and sd.
    ensemble: int = Field(default=1, ge=1)

    @field_validator("window_length")
    @classmethod
    def _whole_bins(cls, value: int) -> int:
        if value % BIN_SIZE:
            raise ValueError(f"must be a multiple of {BIN_SIZE} bp, got {value}")
        return value


@settings_dataclass
class TrainingConfig:
    """Optimisation settings; ``learning_rate`` defaults by mode (finetune 1e-5, tracks 5e-4).

    Tracks mode only: ``trunk`` (``frozen``: new ``Dense`` head on the fixed trunk; ``train``:
    the trunk and its species head ``species`` trained together, exported in the published
    checkpoint layout), ``loss`` (``poisson``, as the original Enformer, or ``mse``) and
    ``max_shift`` (``trunk: train``: random shift of every window by up to this many bp,
    N-padded; the bins stay put, as in the original's +-3 bp augmentation).

    Finetune mode only: ``trunk_batch_norm`` (``TRUNK_BATCH_NORMS`` above; default ``batch``).
    """

    mode: Literal[TRAINING_MODES] = "finetune"  # type: ignore[valid-type]
    learning_rate: Optional[float] = Field(default=None, gt=0)
    lr_schedule: Literal[LR_SCHEDULES] = "constant"  # type: ignore[valid-type]
    epochs: int = Field(default=10, ge=1)
    steps: int = Field(default=100, ge=1)
    batch: int = Field(default=4, ge=1)
    seed: int = 0
    reverse_complement: bool = True
    eval_offsets: int = Field(default=1, ge=1)
    jit_compile: bool = False
    warm_start: bool = True
    # bfloat16: matmuls/convolutions in bfloat16, variables and optimiser state float32.
    precision: Literal[PRECISIONS] = "float32"  # type: ignore[valid-type]
    # Gradient checkpointing of the transformer and conv-tower blocks: less memory, ~1 more forward.
    recompute: bool = False
    trunk: Literal[TRUNK_MODES] = "frozen"  # type: ignore[valid-type]
    loss: Literal[TRACK_LOSSES] = "poisson"  # type: ignore[valid-type]
    species: str = Field(default="human", min_length=1)
    max_shift: int = Field(default=3, ge=0, le=BIN_SIZE // 2)
    trunk_batch_norm: Literal[TRUNK_BATCH_NORMS] = "batch"  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _tracks_only(self) -> "TrainingConfig":
        # Payload fine-tuning always trains the trunk with MSE: refuse settings it would ignore.
        if self.mode == "finetune":
            for key, default in (("trunk", "frozen"), ("loss", "poisson")):
                if getattr(self, key) != default:
                    raise KeyedValueError(key, f"applies to training.mode: tracks only (finetune trains the "
                                          f"trunk with the MSE loss); got {getattr(self, key)!r}")
        elif self.trunk_batch_norm != "batch":
            raise KeyedValueError("trunk_batch_norm", "applies to training.mode: finetune only; got "
                                  f"{self.trunk_batch_norm!r}")
        return self

    @property
    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-5 if self.mode == "finetune" else 5e-4


def to_custom_config(model: ModelConfig, training: TrainingConfig) -> Dict[str, Any]:
    """Plain-JSON form for the Trainer's ``custom_config``."""
    return {"model": dataclasses.asdict(model), "training": dataclasses.asdict(training)}


def from_custom_config(custom_config: Optional[Dict[str, Any]]) -> "tuple[ModelConfig, TrainingConfig]":
    """Inverse of :func:`to_custom_config` (unknown keys are an error)."""
    custom_config = dict(custom_config or {})
    model = validate_settings(ModelConfig, custom_config.get("model", {}), "custom_config.model")
    training = validate_settings(TrainingConfig, custom_config.get("training", {}), "custom_config.training")
    return model, training
