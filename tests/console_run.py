"""Run the ``enformer-tfx`` CLI in a child process, as a user's shell would (reusable by tests).

In-process calls of ``pipeline.cli.main`` share the test process's logging, warnings filters and
already-imported TensorFlow; what a user sees on the console (C++ start-up messages, library
warnings, progress bars) only shows in a fresh process.
"""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(argv: List[str], cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None,
            timeout: float = 1800) -> subprocess.CompletedProcess:
    """``python -m pipeline.cli ARGV`` from this checkout; stdout and stderr merged in order as a
    terminal shows them (``.stdout``, text)."""
    environment = dict(os.environ, PYTHONPATH=REPO, **(env or {}))
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI decides, as for a user
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *argv], cwd=cwd or REPO, env=environment,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def console_lines(output: str) -> List[str]:
    """Lines as ``wc -l`` counts them: split at newlines only (a progress bar redraws with ``\\r``)."""
    lines = output.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines
