"""Clean up after a killed local run: close its executions in ML Metadata, remove its orphan folders.

A local run (BeamDagRunner or LocalDagRunner) is one process, so when the next run starts, an
execution still RUNNING (or NEW) in the SQLite store can only belong to a run that died. TFX
registers output artifacts only when an execution succeeds, so such an execution published
nothing: the Resolver and the cache never see it. What it leaves behind:

- the execution itself, RUNNING forever: marked FAILED here, with an ``interrupted`` property;
- its output folders ``<pipeline_root>/<node>/<output key>/<execution id>`` (e.g. an empty
  ``Trainer/model/<id>``), its ``.system/executor_execution/<id>`` folder and the node's
  ``.system/stateful_working_dir/<uuid>`` folders (TFX removes those when an execution
  finishes, so at the start of a run every one left is an orphan): removed here, unless an
  artifact in the store points into them.

The Trainer keeps its training state (checkpoints, log) outside these folders, in
``<pipeline_root>/Trainer/resume/<input fingerprint>`` (``trainer.run.resumable_work_dir``), so
removing them loses nothing and the next Trainer execution resumes after the last saved epoch.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from typing import List, Sequence

LOG = logging.getLogger(__name__)

SYSTEM_DIR = ".system"  # TFX's per-node bookkeeping folder
NODE_CONTEXT = "node"  # ML Metadata context type with one context per pipeline node


@dataclasses.dataclass(frozen=True)
class InterruptedExecution:
    """An execution a killed run left open, now FAILED, and the orphan folders removed for it."""

    execution_id: int
    node: str  # node id, e.g. "Trainer" ("" when the store does not say)
    removed: Sequence[str]


def orphan_folders(node_dir: str, execution_id: int) -> List[str]:
    """Folders a TFX execution ``execution_id`` of the node at ``node_dir`` owns, that exist.

    Output artifacts live in ``<node_dir>/<output key>/<execution id>``; the launcher's own files
    in ``.system/executor_execution/<execution id>``; stateful working directories (one per running
    execution, named by a UUID the execution does not record) in ``.system/stateful_working_dir``.
    """
    if not os.path.isdir(node_dir):
        return []
    found = [os.path.join(node_dir, key, str(execution_id)) for key in sorted(os.listdir(node_dir))
             if key != SYSTEM_DIR]
    found.append(os.path.join(node_dir, SYSTEM_DIR, "executor_execution", str(execution_id)))
    stateful = os.path.join(node_dir, SYSTEM_DIR, "stateful_working_dir")
    if os.path.isdir(stateful):
        found += [os.path.join(stateful, name) for name in sorted(os.listdir(stateful))]
    return [path for path in found if os.path.isdir(path)]


def close_interrupted_executions(metadata_path: str, pipeline_root: str) -> List[InterruptedExecution]:
    """Mark the executions a killed local run left RUNNING/NEW as FAILED and remove their orphan
    folders under ``pipeline_root`` (see the module docstring); logs and returns what was done.

    Two local runs on one metadata file at once are not supported: the second would close the
    first one's executions.
    """
    if not os.path.exists(metadata_path):
        return []
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb
    from tfx.orchestration import metadata

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))
    stale = [e for e in store.get_executions() if e.last_known_state in (pb.Execution.RUNNING, pb.Execution.NEW)]
    if not stale:
        return []
    known_uris = [os.path.abspath(artifact.uri) for artifact in store.get_artifacts() if artifact.uri]
    closed = []
    for execution in stale:
        execution.last_known_state = pb.Execution.FAILED
        execution.custom_properties["interrupted"].string_value = "process ended before the execution finished"
        node = next((context.name.rsplit(".", 1)[-1] for context in store.get_contexts_by_execution(execution.id)
                     if store.get_context_types_by_id([context.type_id])[0].name == NODE_CONTEXT), "")
        removed = []
        for folder in orphan_folders(os.path.join(pipeline_root, node), execution.id) if node else []:
            inside = os.path.abspath(folder) + os.sep
            if any(uri == inside[:-1] or uri.startswith(inside) for uri in known_uris):
                continue  # a registered artifact lives here: not an orphan
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        closed.append(InterruptedExecution(execution.id, node, tuple(removed)))
    store.put_executions(stale)
    for item in closed:
        LOG.warning("interrupted run: execution %d (%s) was left RUNNING, marked FAILED; removed %d orphan "
                    "folder(s)%s", item.execution_id, item.node or "unknown node", len(item.removed),
                    "".join(f"\n  {path}" for path in item.removed))
    return closed
