"""``Interpreter``: after the Evaluator, the attribution report of held-out payloads of a blessed model.

Inputs: the Trainer's ``model``, the Evaluator's ``model_blessing`` and the ``examples`` (their
``eval`` split names the held-out payloads; their span fills ``{SPAN}`` in ``payload_fasta`` /
``annotation_bed``). When the model is not blessed the component writes only ``summary.json``
saying so. Otherwise it picks ``payloads`` held-out payloads
(:func:`components.interpret.held_out.choose_payloads`), attributes their activity through the
SavedModel's ``predict_one_hot`` signature exactly as ``enformer-tfx attribute`` does, and
writes into its ``report`` artifact ``attribution.bedgraph``, ``attribution.npz``,
``attribution.<payload>.png``, optionally the motif files, and ``summary.json``.
"""
from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.after_evaluation import BLESSED_MODEL_INPUTS
from components.config_validation import field_default
from components.interpret import executor
from components.interpret.params import ARTIFACT_TYPE, InterpretConfig
from components.payload_example_gen.params import DEFAULT_CONSTRUCT_LENGTH


def _default(name: str):
    return field_default(InterpretConfig, name)


class AttributionReport(types.Artifact):
    """Per-base attributions of held-out payloads (bedGraph, npz, figures, summary)."""

    # Vertex (KubeflowV2) only compiles custom types named "<namespace>.<Name>".
    TYPE_NAME = ARTIFACT_TYPE


class InterpreterSpec(types.ComponentSpec):
    PARAMETERS = {
        "payload_fasta": ExecutionParameter(type=str),
        "annotation_bed": ExecutionParameter(type=str, optional=True),
        "reference_fasta": ExecutionParameter(type=str),
        "context": ExecutionParameter(type=str),
        "construct_length": ExecutionParameter(type=int),
        "payloads": ExecutionParameter(type=int),
        "method": ExecutionParameter(type=str),
        "seed": ExecutionParameter(type=int, optional=True),
        "reverse_complement": ExecutionParameter(type=int),
        "batch_size": ExecutionParameter(type=int),
        "motifs": ExecutionParameter(type=int),
        "figures": ExecutionParameter(type=int),
    }
    INPUTS = BLESSED_MODEL_INPUTS
    OUTPUTS = {"report": ChannelParameter(type=AttributionReport)}


class Interpreter(base_component.BaseComponent):
    """Explains held-out payloads with a blessed model (see module docstring)."""

    SPEC_CLASS = InterpreterSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel, examples: types.BaseChannel,
                 payload_fasta: str, reference_fasta: str, context: str, annotation_bed: Optional[str] = None,
                 construct_length: int = DEFAULT_CONSTRUCT_LENGTH, payloads: int = _default("payloads"),
                 method: str = _default("method"), seed: Optional[int] = _default("seed"),
                 reverse_complement: bool = _default("reverse_complement"), batch_size: int = _default("batch_size"),
                 motifs: bool = _default("motifs"), figures: bool = _default("figures")):
        """Settings: :class:`components.interpret.params.InterpretConfig` (same defaults)."""
        spec = InterpreterSpec(
            model=model, model_blessing=model_blessing, examples=examples,
            payload_fasta=payload_fasta, annotation_bed=annotation_bed, reference_fasta=reference_fasta,
            context=context, construct_length=construct_length, payloads=payloads, method=method, seed=seed,
            reverse_complement=int(bool(reverse_complement)), batch_size=batch_size, motifs=int(bool(motifs)),
            figures=int(bool(figures)), report=types.Channel(type=AttributionReport))
        super().__init__(spec=spec)
