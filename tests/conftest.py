"""Session-wide fixtures shared by the whole suite (it runs in one pytest process)."""
from __future__ import annotations

import os

import pytest

DEMO_SCALE = 0.25  # 50 payloads, ~0.5 Mb genome: big enough for every component, quick to build
DEMO_SEED = 11


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> str:
    """Directory with synthetic demo data (``enformer-tfx demo-data`` at a small scale)."""
    from pipeline.demo_data import generate_demo_data

    outdir = str(tmp_path_factory.mktemp("demo_data"))
    generate_demo_data(outdir, seed=DEMO_SEED, scale=DEMO_SCALE)
    return outdir


@pytest.fixture(scope="session")
def demo_manifest(demo_data) -> dict:
    import json

    with open(os.path.join(demo_data, "manifest.json")) as handle:
        return json.load(handle)
