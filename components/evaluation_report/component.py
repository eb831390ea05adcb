"""``ReportingEvaluator``: the standard TFX Evaluator with :class:`executor.Executor`."""
from __future__ import annotations

from tfx.components import Evaluator
from tfx.dsl.components.base import executor_spec

from components.evaluation_report import executor


class ReportingEvaluator(Evaluator):
    """TFX ``Evaluator`` (same inputs, outputs, TFMA config and blessing) for payload and track
    models; for payload models it also writes ``predictions.tsv``, ``scatter.png`` and
    ``summary.json`` into the evaluation artifact."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
