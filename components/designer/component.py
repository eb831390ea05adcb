"""``Designer``: after the Evaluator, propose the next assay batch with the blessed model.

Inputs: the Trainer's ``model``, the Evaluator's ``model_blessing`` and the ``examples`` (their
span numbers the proposals: span N's model proposes span N+1). When the model is not blessed
the component writes only ``summary.json`` saying so. Otherwise it runs the same design as
``enformer-tfx design`` (:mod:`components.designer.design`) through the SavedModel's
``predict_one_hot`` signature and writes ``design.fa``, ``design.tsv``,
``design.annotation.bed``, ``design.activity.tsv`` and ``summary.json`` into its
``proposals`` artifact, and the four files also to ``output_location`` (a path prefix;
``{SPAN}`` becomes the next span's number).

``{SPAN}`` in ``payload_fasta`` / ``annotation_bed`` is the current span (the parents are
the batch just measured).
"""
from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.after_evaluation import BLESSED_MODEL_INPUTS
from components.designer import executor
from components.designer.candidates import DEFAULT_EDIT_KINDS
from components.payload_example_gen.params import DEFAULT_CONSTRUCT_LENGTH


class DesignProposals(types.Artifact):
    """The proposed next batch (FASTA, table, annotation BED, NA activity table)."""

    # Vertex (KubeflowV2) only compiles custom types named "<namespace>.<Name>".
    TYPE_NAME = "enformer_tfx.DesignProposals"


class DesignerSpec(types.ComponentSpec):
    PARAMETERS = {
        "payload_fasta": ExecutionParameter(type=str),
        "annotation_bed": ExecutionParameter(type=str),
        "reference_fasta": ExecutionParameter(type=str),
        "context": ExecutionParameter(type=str),
        "construct_length": ExecutionParameter(type=int),
        "output_location": ExecutionParameter(type=str, optional=True),
        "parents": ExecutionParameter(type=str, optional=True),
        "edits": ExecutionParameter(type=str),
        "max_edits": ExecutionParameter(type=int),
        "candidates": ExecutionParameter(type=int),
        "batch_size": ExecutionParameter(type=int),
        "acquisition": ExecutionParameter(type=str),
        "beta": ExecutionParameter(type=float),
        "diversity": ExecutionParameter(type=float),
        "objective": ExecutionParameter(type=str),
        "seed": ExecutionParameter(type=int),
        "shifts": ExecutionParameter(type=int),
        "reverse_complement": ExecutionParameter(type=int),
        "predict_batch": ExecutionParameter(type=int),
        "group": ExecutionParameter(type=str),
    }
    INPUTS = BLESSED_MODEL_INPUTS
    OUTPUTS = {"proposals": ChannelParameter(type=DesignProposals)}


class Designer(base_component.BaseComponent):
    """Proposes the next batch from a blessed model (see module docstring)."""

    SPEC_CLASS = DesignerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel, examples: types.BaseChannel,
                 payload_fasta: str, annotation_bed: str, reference_fasta: str, context: str,
                 construct_length: int = DEFAULT_CONSTRUCT_LENGTH, output_location: Optional[str] = None,
                 parents: Optional[str] = None, edits: str = ",".join(DEFAULT_EDIT_KINDS),
                 max_edits: int = 2, candidates: int = 5000, batch_size: int = 40, acquisition: str = "greedy",
                 beta: float = 1.0, diversity: float = 1.0, objective: str = "max", seed: int = 0,
                 shifts: int = 3, reverse_complement: bool = True, predict_batch: int = 128,
                 group: str = "design"):
        spec = DesignerSpec(
            model=model, model_blessing=model_blessing, examples=examples,
            payload_fasta=payload_fasta, annotation_bed=annotation_bed, reference_fasta=reference_fasta,
            context=context, construct_length=construct_length, output_location=output_location, parents=parents,
            edits=edits, max_edits=max_edits, candidates=candidates, batch_size=batch_size,
            acquisition=acquisition, beta=float(beta), diversity=float(diversity), objective=objective, seed=seed,
            shifts=shifts, reverse_complement=int(bool(reverse_complement)), predict_batch=predict_batch, group=group,
            proposals=types.Channel(type=DesignProposals))
        super().__init__(spec=spec)
