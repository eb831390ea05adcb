"""Benchmark: how fast a bad pipeline config is reported (wall time of a fresh CLI process).

``enformer-tfx run --config BAD.yaml`` must print its one-line error in under 3 s, before
TensorFlow/TFX/Beam are imported. Reports the median wall time over a few runs of a typo'd
key and of a valid-config load (``python -c`` load_config), plus the CLI's ``--help`` time,
and the CPU seconds (user + sys) of the invalid-config process, which do not depend on how
busy the machine is.

    .venv/bin/python -m benchmarks.bench_config
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(REPO, "pipeline", "configs", "demo.yaml")
TARGET_S = 3.0


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall_times(argv: List[str], repeats: int, cpu: List[float] = None) -> List[float]:
    env = dict(os.environ, PYTHONPATH=REPO)
    times = []
    for _ in range(repeats):
        cpu_before, start = _children_cpu_s(), time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env, cwd=REPO, check=False)
        times.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(_children_cpu_s() - cpu_before)
    return times


def run(quick: bool = False) -> Dict[str, object]:
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "bad.yaml")
        with open(DEMO_CONFIG) as source, open(bad, "w") as sink:
            sink.write(source.read().replace("epochs: 15", "epohcs: 15"))
        cli = [sys.executable, "-m", "pipeline.cli"]
        invalid_cpu: List[float] = []
        invalid = _wall_times(cli + ["run", "--config", bad], repeats, invalid_cpu)
        valid = _wall_times([sys.executable, "-c", f"from pipeline.config import load_config; load_config({DEMO_CONFIG!r})"],
                            repeats)
        help_times = _wall_times(cli + ["--help"], repeats)
    median = statistics.median(invalid)
    return {
        "invalid_config_error_s": round(median, 3),
        "invalid_config_error_max_s": round(max(invalid), 3),
        "invalid_config_error_cpu_s": round(statistics.median(invalid_cpu), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "valid_config_load_s": round(statistics.median(valid), 3),
        "cli_help_s": round(statistics.median(help_times), 3),
        "repeats": repeats,
        "target_s": TARGET_S,
        "meets_target": median < TARGET_S,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
