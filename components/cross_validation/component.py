"""``CrossValidation``: the out-of-fold report of the K fold models a pipeline trains.

Inputs: ``examples``, the k-fold Examples (splits ``fold0..fold{K-1}``, the ``make-dataset
--kfolds K`` assignment), and one ``Model`` per fold, ``fold<i>_model``, trained on every fold
but ``i`` (one standard Trainer node each). The executor predicts fold ``i``'s payloads with
fold model ``i`` through its ``serving_default`` signature and writes
:mod:`components.cross_validation.report` into its ``report`` artifact; the pooled and per-fold
metrics become custom properties of that artifact, as the Evaluator records its own.

The number of model inputs depends on K, so each K gets its own spec class (a subclass of
:class:`CrossValidationSpec`); the executor is the same importable class for every K.
"""
from __future__ import annotations

from typing import Dict, Sequence, Type

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.cross_validation import ARTIFACT_TYPE, executor, model_key


class CrossValidationReport(types.Artifact):
    """Out-of-fold predictions, per-fold metrics, scatter and summary of a k-fold cross-validation."""

    TYPE_NAME = ARTIFACT_TYPE


class CrossValidationSpec(types.ComponentSpec):
    PARAMETERS = {"num_kfolds": ExecutionParameter(type=int)}
    INPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {"report": ChannelParameter(type=CrossValidationReport)}


_SPECS: Dict[int, Type[CrossValidationSpec]] = {}


def spec_class(num_kfolds: int) -> Type[CrossValidationSpec]:
    """:class:`CrossValidationSpec` with the ``fold<i>_model`` inputs of ``num_kfolds`` folds."""
    if num_kfolds not in _SPECS:
        inputs = dict(CrossValidationSpec.INPUTS)
        inputs.update({model_key(i): ChannelParameter(type=standard_artifacts.Model) for i in range(num_kfolds)})
        _SPECS[num_kfolds] = type(f"CrossValidation{num_kfolds}FoldSpec", (CrossValidationSpec,), {"INPUTS": inputs})
    return _SPECS[num_kfolds]


class CrossValidation(base_component.BaseComponent):
    """The out-of-fold report of ``models`` (fold ``i``'s model first ... see module docstring)."""

    SPEC_CLASS = CrossValidationSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, models: Sequence[types.BaseChannel]):
        if len(models) < 2:
            raise ValueError(f"cross-validation needs K >= 2 fold models, got {len(models)}")
        spec = spec_class(len(models))(
            examples=examples, num_kfolds=len(models), report=types.Channel(type=CrossValidationReport),
            **{model_key(i): model for i, model in enumerate(models)})
        super().__init__(spec=spec)
