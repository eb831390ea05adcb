"""Run the ``enformer-tfx`` CLI in a child process, as a user's shell would (reusable by tests).

In-process calls of ``pipeline.cli.main`` share the test process's logging, warnings filters and
already-imported TensorFlow; what a user sees on the console (C++ start-up messages, library
warnings, progress bars) only shows in a fresh process.
"""
from __future__ import annotations

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
    return dict(args=[sys.executable, "-m", "pipeline.cli", *argv], env=environment)


def run_cli(argv: List[str], cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None,
            timeout: float = 1800) -> subprocess.CompletedProcess:
    """``python -m pipeline.cli ARGV`` from this checkout; stdout and stderr merged in order as a
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
