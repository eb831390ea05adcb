"""Model and training settings shared by the TFX run_fn, the pipeline config and the CLI.

The pipeline passes them to the Trainer as ``custom_config = {"model": {...}, "training":
{...}}`` (plain JSON), and ``enformer-tfx train`` builds them from its flags.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from components.genome import InputError

TRAINING_MODES = ("finetune", "tracks")
# Payload-head poolings; defined here (not in trainer.heads) so config code needs no TensorFlow.
POOLINGS = ("flatten", "mean")


@dataclasses.dataclass
class ModelConfig:
    """Which Enformer, which head, and where its starting weights come from.

    ``preset`` names a trunk configuration (``tiny``, ``small``, ``full``); ``overrides`` changes
    individual hyper-parameters of it. ``baseline`` is ``random`` (explicit random init), a
    Sonnet checkpoint directory, or ``tensorhub[:HANDLE]``. The payload head is attention over
    the trunk's bins (``key_size``/``value_size``/``num_heads``: 64/64/1, 64/128/1 or 64/64/4 as
    published), then ``pooling``: ``flatten`` (the original layout; fixes the window length) or
    ``mean`` (length agnostic), then ``Dense(1, softplus)``.
    """

    preset: str = "tiny"
    overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)
    baseline: str = "random"
    pooling: str = "flatten"
    key_size: int = 64
    value_size: int = 64
    num_heads: int = 1
    window_length: int = 25_600
    # K > 1: K payload heads on the fine-tuned trunk; the export serves their mean and sd.
    ensemble: int = 1

    def validate(self, where: str) -> None:
        if self.ensemble < 1:
            raise InputError(f"{where}.ensemble: must be >= 1 (1 = a single head), got {self.ensemble}")
        if self.pooling not in POOLINGS:
            raise InputError(f"{where}.pooling: expected one of {POOLINGS}, got {self.pooling!r}")
        if self.window_length % 128:
            raise InputError(f"{where}.window_length: must be a multiple of 128 bp, got {self.window_length}")


@dataclasses.dataclass
class TrainingConfig:
    """Optimisation settings; ``learning_rate`` defaults by mode (finetune 1e-5, tracks 5e-4)."""

    mode: str = "finetune"
    learning_rate: Optional[float] = None
    lr_schedule: str = "constant"
    epochs: int = 10
    steps: int = 100
    batch: int = 4
    seed: int = 0
    reverse_complement: bool = True
    eval_offsets: int = 1
    jit_compile: bool = False
    warm_start: bool = True

    def validate(self, where: str) -> None:
        if self.mode not in TRAINING_MODES:
            raise InputError(f"{where}.mode: expected one of {TRAINING_MODES}, got {self.mode!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise InputError(f"{where}.lr_schedule: expected 'constant' or 'cosine', got {self.lr_schedule!r}")
        for name in ("epochs", "steps", "batch", "eval_offsets"):
            if getattr(self, name) < 1:
                raise InputError(f"{where}.{name}: must be >= 1, got {getattr(self, name)}")

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
    model = ModelConfig(**custom_config.get("model", {}))
    training = TrainingConfig(**custom_config.get("training", {}))
    model.validate("custom_config.model")
    training.validate("custom_config.training")
    return model, training
