"""Settings of the pipeline's attribution step (config ``interpret:``), free of TFX and TensorFlow.

The step runs after the Evaluator: when the model is blessed it attributes the activity of
``payloads`` held-out payloads (see :func:`components.interpret.held_out.choose_payloads`) and
keeps the report as an artifact. The config is checked with these definitions before TFX
loads; a test ties :data:`COMPONENT_PARAMETERS` to the component's constructor.
"""
from __future__ import annotations

import dataclasses
from typing import Literal, Optional

from pydantic import Field

from components.config_validation import settings_dataclass

METHODS = ("ism", "saliency")
ARTIFACT_TYPE = "enformer_tfx.AttributionReport"  # the step's output artifact type in ML Metadata
# The split whose payloads the step explains: the one the Evaluator scores.
HELD_OUT_SPLIT = "eval"


@settings_dataclass
class InterpretConfig:
    """The ``interpret:`` section of the pipeline config.

    Attributes:
      payloads: how many held-out payloads to explain.
      method: ``ism`` (every base x 3 alternatives, batched) or ``saliency`` (gradient x input).
      seed: ``null`` = the first ``payloads`` held-out names in sorted order; an integer = a
        seeded random choice of that many (reported in sorted order).
      reverse_complement: score the mean of the forward and reverse-complement windows.
      batch_size: ISM mutants per model call.
      motifs: also run motif discovery on the attributions (MEME + logos).
      figures: write the per-payload PNG figures.
    """

    payloads: int = Field(default=2, ge=1)
    method: Literal[METHODS] = "ism"  # type: ignore[valid-type]
    seed: Optional[int] = None
    reverse_complement: bool = False
    batch_size: int = Field(default=8, ge=1)
    motifs: bool = False
    figures: bool = True


# Inputs the step takes from the ``payloads:`` section (how the examples were built).
INTERPRET_INPUTS = ("payload_fasta", "annotation_bed", "reference_fasta", "context", "construct_length")
COMPONENT_PARAMETERS = INTERPRET_INPUTS + tuple(field.name for field in dataclasses.fields(InterpretConfig))
