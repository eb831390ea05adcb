"""``ReportingEvaluator``: the standard TFX Evaluator with :class:`executor.Executor`."""
from __future__ import annotations

from tfx.components import Evaluator
from tfx.dsl.components.base import executor_spec

from components.evaluation_report import executor


class ReportingEvaluator(Evaluator):
    """TFX ``Evaluator`` (same inputs, outputs, TFMA config and blessing) for payload and track
    models. Into the evaluation artifact it also writes ``summary.json`` and, for payload models,
    ``predictions.tsv`` and ``scatter.png``; for track models ``track_pearson_r.tsv`` and
    ``track_windows.png``."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
