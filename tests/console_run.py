"""Run the ``enformer-tfx`` CLI in a child process, as a user's shell would (reusable by tests).

In-process calls of ``pipeline.cli.main`` share the test process's logging, warnings filters and
already-imported TensorFlow; what a user sees on the console (C++ start-up messages, library
warnings, progress bars) only shows in a fresh process.
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from typing import IO, Dict, Iterable, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the libraries print when their logging or warnings leak to a user's console.
LIBRARY_NOISE = ("FutureWarning", "Using Any", "cuda", "cuDNN", "node_info", "absl", "INFO")
NODE_LINE = re.compile(r"^(\S+)\s+(ran|cached)\s+[\d.]+ s")


def _command(argv: List[str], env: Optional[Dict[str, str]]) -> dict:
    environment = dict(os.environ, PYTHONPATH=REPO, **(env or {}))
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI decides, as for a user
    return dict(args=[sys.executable, "-m", "tests.cli_child", *argv], env=environment)


def run_cli(argv: List[str], cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None,
            timeout: float = 1800) -> subprocess.CompletedProcess:
    """``enformer-tfx ARGV`` from this checkout (``python -m tests.cli_child``); stdout and stderr merged in order as a
    terminal shows them (``.stdout``, text)."""
    return subprocess.run(**_command(argv, env), cwd=cwd or REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def start_cli(argv: List[str], output: IO, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """:func:`run_cli` without waiting: merged output goes to the open file ``output``; the child
    leads its own process group (``os.killpg(process.pid, ...)`` ends it and what it started)."""
    return subprocess.Popen(**_command(argv, env), cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
                            start_new_session=True)


def console_lines(output: str) -> List[str]:
    """Lines as ``wc -l`` counts them: split at newlines only (a progress bar redraws with ``\\r``)."""
    lines = output.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def node_lines(lines: Iterable[str]) -> Dict[str, str]:
    """``{node: "ran" | "cached"}`` from the one line ``run`` prints per pipeline node."""
    return {match.group(1): match.group(2) for match in map(NODE_LINE.match, lines) if match}


def check_short_quiet_console(output: str, budget: int = 30) -> List[str]:
    """The console of one ``run`` process (default verbosity): at most ``budget`` lines counted as
    ``wc -l`` would, nothing printed by the libraries; returns the lines."""
    lines = console_lines(output)
    assert len(lines) <= budget, "\n".join(lines)
    for noise in LIBRARY_NOISE:
        assert noise not in output, noise
    return lines


@dataclasses.dataclass(frozen=True)
class KilledRun:
    """What an ``enformer-tfx run`` killed during training left behind, read right after the kill."""

    output: str  # the killed process's console
    execution_id: int  # the Trainer execution it left RUNNING in ML Metadata
    execution_type: str
    orphans: List[str]  # that execution's unpublished output folders (they existed after the kill)
    epochs_before: List[Dict[str, float]]  # training_log.tsv rows the killed Trainer had written


def kill_after_saved_epoch(argv: List[str], pipeline_root: str, metadata_path: str, log_path: str,
                           timeout: float = 1800) -> KilledRun:
    """Start ``enformer-tfx ARGV`` (a ``run``), SIGKILL its process group as soon as the Trainer has
    saved an epoch checkpoint, and return what the kill left (asserting there was something)."""
    import glob
    import signal
    import time

    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb
    from tfx.orchestration import metadata

    from trainer.checkpoints import TRAINING_CHECKPOINT_DIR
    from trainer.run import RESUME_SUBDIR
    from trainer.training import read_training_log

    resume = os.path.join(pipeline_root, "Trainer", RESUME_SUBDIR)
    saved = os.path.join(resume, "*", TRAINING_CHECKPOINT_DIR, "checkpoint")
    with open(log_path, "w") as log:
        process = start_cli(argv, log)
        deadline = time.time() + timeout
        while not glob.glob(saved) and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)  # the run and anything it started
        process.wait()
    with open(log_path) as log:
        output = log.read()
    assert glob.glob(saved), "no epoch checkpoint before the kill:\n" + output[-3000:]
    [work_dir] = glob.glob(os.path.join(resume, "*"))
    # Read-write on purpose: the kill may have left a hot SQLite journal, which only a writer rolls back.
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))
    [killed] = [e for e in store.get_executions() if e.last_known_state == pb.Execution.RUNNING]
    orphans = [os.path.join(pipeline_root, "Trainer", key, str(killed.id)) for key in ("model", "model_run")]
    assert all(os.path.isdir(path) for path in orphans), orphans
    return KilledRun(output, killed.id, killed.type, orphans,
                     read_training_log(os.path.join(work_dir, "training_log.tsv")))
