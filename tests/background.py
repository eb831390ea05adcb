"""The suite's longest pipeline fixtures, run in a child process the suite starts first and reads last.

``python -m tests.background ROOT DEMO_DATA CONTEXT JOB...`` runs each named job of :data:`JOBS`
(``job(workdir, demo_data, context)``, workdir ``ROOT/JOB``) one after the other and pickles its
result to ``ROOT/JOB.pickle`` (written under a temporary name, then renamed: the file exists only
for a completed job) or its traceback to ``ROOT/JOB.error``. A pipeline run spends much of its
time in single-threaded Python (tracing graphs, Beam, ML Metadata), so while the test process does
the same the child uses the core it leaves idle; the tests that read a job run last
(tests/conftest.py).
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import pickle
import subprocess
import sys
import time
import traceback
from typing import Any, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# fixture name -> "module:function"; the child runs the selected ones in this order.
JOBS = {
    "payload_loop": "tests.test_pipeline:run_payload_loop",
    "designer_run": "tests.test_designer:run_designer_pipeline",
    "cross_validation_run": "tests.test_cross_validation:run_cross_validation_pipeline",
    "track_run": "tests.test_pipeline:run_track_pipeline",
    "distribution_report": "tests.test_distribute:run_distribution",
}
LOG = "background.log"


@dataclasses.dataclass
class Background:
    """The running child and the directory it writes to."""

    process: subprocess.Popen
    root: str

    def result(self, job: str, timeout: float = 2400) -> Any:
        """``job``'s result, once the child has written it; a failed job fails here with its traceback
        (or the end of the child's console if the child died)."""
        done, failed = (os.path.join(self.root, job + suffix) for suffix in (".pickle", ".error"))
        deadline = time.monotonic() + timeout
        while not os.path.exists(done) and not os.path.exists(failed):
            if self.process.poll() is not None and not os.path.exists(done):
                with open(os.path.join(self.root, LOG)) as handle:
                    raise AssertionError(f"the background child exited ({self.process.returncode}) without "
                                         f"{job}:\n{handle.read()[-6000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{job}: not done after {timeout:.0f} s (log: {self.root}/{LOG})")
            time.sleep(1)
        if os.path.exists(failed):
            with open(failed) as handle:
                raise AssertionError(f"background job {job} failed:\n{handle.read()}")
        with open(done, "rb") as handle:
            return pickle.load(handle)


def start(jobs: Sequence[str], root: str, demo_data: str, context: str) -> Background:
    """Start the child for ``jobs`` (names of :data:`JOBS`); its console goes to ``ROOT/background.log``."""
    with open(os.path.join(root, LOG), "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "tests.background", root, demo_data, context, *jobs],
                                   cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return Background(process, root)


def main(root: str, demo_data: str, context: str, jobs: Sequence[str]) -> None:
    from tests.graph_speed import switch_off_grappler

    switch_off_grappler()  # as in the test process
    for job in jobs:
        module, function = JOBS[job].split(":")
        workdir = os.path.join(root, job)
        os.makedirs(workdir)
        try:
            result = getattr(importlib.import_module(module), function)(workdir, demo_data, context)
        except Exception:  # reported to the job's readers; the next job still runs
            with open(os.path.join(root, job + ".error"), "w") as handle:
                handle.write(traceback.format_exc())
            continue
        partial = os.path.join(root, job + ".pickle.partial")
        with open(partial, "wb") as handle:
            pickle.dump(result, handle)
        os.replace(partial, os.path.join(root, job + ".pickle"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
