"""Data-parallel training on two logical CPU devices matches single-device training (child process)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_distribution(tmp: str, demo_data: str, context: str) -> dict:
    """The report of ``python -m tests.distribution_run TMP`` (a background job of the suite,
    tests.background; ``demo_data`` and ``context`` unused)."""
    # A child: logical devices must be configured before TensorFlow initialises.
    completed = subprocess.run([sys.executable, "-m", "tests.distribution_run", tmp], cwd=REPO,
                               env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=1200)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("DISTRIBUTION-JSON ")]
    assert completed.returncode == 0 and lines, completed.stderr[-3000:]
    return json.loads(lines[-1].split(" ", 1)[1])


def test_two_replicas_follow_the_single_device_loss_trajectory_and_export_the_same_signatures(distribution_report):
    report = distribution_report
    single, mirrored = report["single"], report["mirrored"]
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    assert len(set(single["step_losses"])) > 1  # the head learns: the trajectory is not flat
    np.testing.assert_allclose(mirrored["step_losses"], single["step_losses"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mirrored["epochs"], single["epochs"], rtol=1e-4, atol=1e-6)
    assert mirrored["replica_copies_identical"]
    assert mirrored["checkpoint"] and single["checkpoint"]
    assert mirrored["signatures"] == single["signatures"]
    assert set(single["signatures"]) >= {"serving_default", "predict_one_hot"}
    np.testing.assert_allclose(mirrored["predictions"], single["predictions"], rtol=1e-4, atol=1e-6)
    assert "divisible by the 2 replicas" in report["odd_batch_error"]
