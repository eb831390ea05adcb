"""The loop's history from ML Metadata: one row per local pipeline run (round).

Everything comes from the SQLite ML Metadata store that the runs wrote: run contexts, each
node's execution state (``CACHED`` when an earlier run's outputs were reused), the Examples'
spans, the Trainer's model and its ``base_model`` (warm-start parent), the metrics the
Evaluator records as custom properties of the ModelEvaluation artifact, the blessing, the
Pusher's pushed version and, when the run cross-validated (``evaluation.cross_validation``), the
out-of-fold Pearson r the CrossValidation step records on its report.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Dict, List, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.cross_validation import ARTIFACT_TYPE as CV_REPORT_TYPE
from components.json_values import json_safe
from components.model_card.card import exact_metrics

CACHED = metadata_store_pb2.Execution.CACHED
STATE_NAMES = {metadata_store_pb2.Execution.COMPLETE: "ran", CACHED: "cached",
               metadata_store_pb2.Execution.FAILED: "failed", metadata_store_pb2.Execution.RUNNING: "running",
               metadata_store_pb2.Execution.NEW: "new"}


@dataclasses.dataclass
class Round:
    """One pipeline run. ``model``/``parent`` are Model artifact ids (None when absent)."""

    run_id: str
    spans: List[int]
    model: Optional[int]
    model_uri: str
    parent: Optional[int]
    pearson_r: Optional[float]
    spearman_rho: Optional[float]
    mse: Optional[float]
    blessed: Optional[bool]
    pushed_version: Optional[str]
    cached: bool
    states: Dict[str, str]
    cv_pearson_r: Optional[float] = None


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    """The SQLite store, read only (ml_metadata alone: no TFX import, so the command is quick)."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def _value(artifact: Any, key: str) -> Any:
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    return getattr(value, value.WhichOneof("value"))


def properties(artifact: Any) -> Dict[str, Any]:
    """An ML Metadata artifact's custom properties as plain values."""
    return {key: _value(artifact, key) for key in artifact.custom_properties}


def read_rounds(store: metadata_store.MetadataStore, pipeline_name: str) -> List[Round]:
    """Rounds of ``pipeline_name``, oldest first (runs without any execution of it are skipped)."""
    node_of: Dict[int, str] = {}
    for context in store.get_contexts_by_type("node"):
        if context.name.startswith(pipeline_name + "."):
            for execution in store.get_executions_by_context(context.id):
                node_of[execution.id] = context.name[len(pipeline_name) + 1:]
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    rounds = []
    for run in sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.id):
        executions = [e for e in store.get_executions_by_context(run.id) if e.id in node_of]
        if not executions:
            continue
        by_id = {e.id: e for e in executions}
        events = store.get_events_by_execution_ids(list(by_id))
        artifacts = {a.id: a for a in store.get_artifacts_by_id(list({ev.artifact_id for ev in events}))}

        def linked(node: str, event_type: int, type_name: str, key: Optional[str] = None) -> List[Any]:
            found = []
            for event in events:
                if node_of[event.execution_id] != node or event.type != event_type:
                    continue
                artifact = artifacts[event.artifact_id]
                keys = [step.key for step in event.path.steps if step.key]
                if type_names[artifact.type_id] == type_name and (key is None or key in keys):
                    found.append(artifact)
            return found

        states = {node_of[e.id]: STATE_NAMES.get(e.last_known_state, "?") for e in executions}
        trainer_out = linked("Trainer", metadata_store_pb2.Event.OUTPUT, "Model")
        parent = linked("Trainer", metadata_store_pb2.Event.INPUT, "Model", "base_model")
        examples = [a for node in states for a in linked(node, metadata_store_pb2.Event.OUTPUT, "Examples")]
        evaluation = linked("Evaluator", metadata_store_pb2.Event.OUTPUT, "ModelEvaluation")
        blessing = linked("Evaluator", metadata_store_pb2.Event.OUTPUT, "ModelBlessing")
        pushed = linked("Pusher", metadata_store_pb2.Event.OUTPUT, "PushedModel")
        metrics = exact_metrics(properties(evaluation[0])) if evaluation else {}
        cv_report = linked("CrossValidation", metadata_store_pb2.Event.OUTPUT, CV_REPORT_TYPE)
        cv_metrics = exact_metrics(properties(cv_report[0])) if cv_report else {}
        rounds.append(Round(
            run_id=run.name,
            spans=sorted({int(_value(a, "span")) for a in examples if _value(a, "span") is not None}),
            model=trainer_out[0].id if trainer_out else None,
            model_uri=trainer_out[0].uri if trainer_out else "",
            parent=parent[0].id if parent else None,
            pearson_r=metrics.get("pearson_r"),
            spearman_rho=metrics.get("spearman_rho"),
            mse=metrics.get("mse"),
            blessed=bool(_value(blessing[0], "blessed")) if blessing and _value(blessing[0], "blessed") is not None else None,
            pushed_version=(_value(pushed[0], "pushed_version") if pushed and _value(pushed[0], "pushed") else None),
            cached=states.get("Evaluator") == "cached",
            states=states,
            cv_pearson_r=cv_metrics.get("pearson_r"),
        ))
    return rounds


COLUMNS = ("run", "spans", "model", "parent", "r", "rho", "MSE", "blessed", "pushed", "cached")
CV_COLUMN = "cv_r"  # shown only when some round cross-validated


def _shown(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_rounds(rounds: List[Round]) -> str:
    """A plain-text table with :data:`COLUMNS` (``-`` for missing values), plus :data:`CV_COLUMN`
    (the out-of-fold r) after ``r`` when any round cross-validated."""
    with_cv = any(r.cv_pearson_r is not None for r in rounds)

    def cells(r: Round) -> tuple:
        row = (r.run_id, ",".join(map(str, r.spans)) or "-", _shown(r.model), _shown(r.parent), _shown(r.pearson_r),
               _shown(r.spearman_rho), _shown(r.mse, 4), _shown(r.blessed), _shown(r.pushed_version),
               "yes" if r.cached else ("failed" if "failed" in r.states.values() else "no"))
        return row[:5] + (_shown(r.cv_pearson_r),) + row[5:] if with_cv else row

    header = COLUMNS[:5] + (CV_COLUMN,) + COLUMNS[5:] if with_cv else COLUMNS
    rows = [header] + [cells(r) for r in rounds]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def rounds_json(rounds: List[Round]) -> str:
    """The rounds as a JSON list (NaN as null)."""
    return json.dumps(json_safe([dataclasses.asdict(r) for r in rounds]), indent=2)
