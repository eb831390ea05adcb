"""One console line per pipeline node as it finishes: ran or cached, wall time, outcome.

The status comes from ML Metadata, the same record the history reads: the node's newest
execution in this pipeline run is ``COMPLETE`` (ran) or ``CACHED`` (an earlier run's outputs were
reused). The Evaluator's line says whether the model was blessed, the Pusher's what it pushed.
"""
from __future__ import annotations

import sys
import time
from typing import Any, List, Optional

from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner, PipelineNodeAsDoFn

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.history import open_store

STATES = {metadata_store_pb2.Execution.COMPLETE: "ran", metadata_store_pb2.Execution.CACHED: "cached",
          metadata_store_pb2.Execution.FAILED: "failed"}


def node_context(store: metadata_store.MetadataStore, pipeline_name: str, node_id: str) -> Optional[Any]:
    """The ML Metadata context of one pipeline node (None before its first execution)."""
    return store.get_context_by_type_and_name("node", f"{pipeline_name}.{node_id}")


def output_artifacts(store: metadata_store.MetadataStore, execution_id: int) -> list:
    """Artifacts an execution output (a cached execution re-publishes an earlier run's)."""
    ids = [event.artifact_id for event in store.get_events_by_execution_ids([execution_id])
           if event.type == metadata_store_pb2.Event.OUTPUT]
    return store.get_artifacts_by_id(ids) if ids else []


def outcome(store: metadata_store.MetadataStore, execution_id: int) -> str:
    """``blessed``/``not blessed`` for a blessing, ``pushed <version>``/``not pushed`` for a push."""
    artifacts = output_artifacts(store, execution_id)
    types = {t.id: t.name for t in store.get_artifact_types_by_id(list({a.type_id for a in artifacts}))}
    for artifact in artifacts:
        properties = artifact.custom_properties
        if types[artifact.type_id] == "ModelBlessing" and "blessed" in properties:
            return "blessed" if properties["blessed"].int_value else "not blessed"
        if types[artifact.type_id] == "PushedModel" and "pushed" in properties:
            if not properties["pushed"].int_value:
                return "not pushed"
            return f"pushed version {properties['pushed_version'].string_value}"
    return ""


def node_line(store: metadata_store.MetadataStore, pipeline_name: str, node_id: str, since_ms: float,
              seconds: Optional[float] = None) -> str:
    """``node  ran|cached  12.3 s  outcome`` for the node's newest execution created after
    ``since_ms``; ``seconds`` defaults to that execution's creation-to-last-update time."""
    context = node_context(store, pipeline_name, node_id)
    executions = store.get_executions_by_context(context.id) if context is not None else []
    recent = [e for e in executions if e.create_time_since_epoch >= since_ms]
    if not recent:
        return f"{node_id:<30} {'done':<7} {seconds or 0.0:7.1f} s"
    newest = max(recent, key=lambda e: e.id)
    if seconds is None:
        seconds = (newest.last_update_time_since_epoch - newest.create_time_since_epoch) / 1000
    state = STATES.get(newest.last_known_state, "done")
    return f"{node_id:<30} {state:<7} {seconds:7.1f} s  {outcome(store, newest.id)}".rstrip()


class ReportingNodeDoFn(PipelineNodeAsDoFn):
    """BeamDagRunner's node DoFn, printing :func:`node_line` when the node finishes."""

    def process(self, element, *signals):  # no annotations: Beam would take them as type hints
        started = time.time()
        # ML Metadata times are milliseconds; a second of slack covers clock rounding.
        since_ms = started * 1000 - 1000
        super().process(element, *signals)
        store = metadata_store.MetadataStore(self._mlmd_connection_config)
        line = node_line(store, self._pipeline_info.id, self._node_id, since_ms, time.time() - started)
        print(line, file=sys.stdout, flush=True)


class ReportingBeamDagRunner(BeamDagRunner):
    """BeamDagRunner whose nodes report one console line each (see :class:`ReportingNodeDoFn`)."""

    _PIPELINE_NODE_DO_FN_CLS = ReportingNodeDoFn


def print_local_run(metadata_path: str, pipeline_name: str, node_ids: List[str], since: float) -> None:
    """After a LocalDagRunner run (which has no per-node hook): one :func:`node_line` per node,
    timed by ML Metadata (execution creation to last update); reads the store read-only."""
    store = open_store(metadata_path)
    for node_id in node_ids:
        print(node_line(store, pipeline_name, node_id, since * 1000 - 1000), flush=True)
