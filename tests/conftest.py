"""Session-wide fixtures shared by the whole suite (it runs in one pytest process)."""
from __future__ import annotations

import os

import pytest

# Fixtures that build, train, export or run a TensorFlow model (tiny ones included) or the shared
# pipeline loop: every test using one is marked slow, so `make test-fast` (-m "not slow") keeps
# the NumPy, I/O, config and CLI-parsing rules and stays a short inner loop.
MODEL_FIXTURES = frozenset({"tiny_payload_model", "tiny_models", "tiny_checkpoint", "tiny", "models", "env",
                            "payload_loop"})


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_configure(config) -> None:
    """Run this process's TensorFlow graphs without Grappler's optimisation passes.

    The suite's models are tiny and most graphs run a few times, so optimising a graph on its
    first call costs more than the run saves (a tiny model's train-step and export tests took
    about 0.6x as long without it). The passes only rewrite graphs for speed; the tests compare
    results, and the CLI runs in child processes keep the passes, as do benchmarks and users."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


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


@pytest.fixture(scope="session")
def payload_loop(tmp_path_factory, demo_data, demo_manifest) -> list:
    """The shared local pipeline loop (three runs over one root; see tests.test_pipeline.run_payload_loop)."""
    from tests.test_pipeline import run_payload_loop

    return run_payload_loop(str(tmp_path_factory.mktemp("payload_loop")), demo_data, demo_manifest["context"])


TINY_WINDOW = 1280  # window of the shared tiny model (10 bins): short for speed


def build_tiny_payload_model(directory: str) -> dict:
    """A tiny random payload model (``tiny`` trunk + flatten head, ``TINY_WINDOW`` bp): the modules
    (``enformer``, ``payload``) and the export under ``directory`` (``serving`` is its
    Format-Serving directory, with weights; ``artifact`` its parent)."""
    import tensorflow as tf

    from trainer.checkpoints import save_weights
    from trainer.enformer import build_enformer
    from trainer.export import export_saved_model
    from trainer.heads import PayloadModel

    tf.random.set_seed(3)
    enformer = build_enformer("tiny")
    payload = PayloadModel(enformer, 16, 16, 1, pooling="flatten", input_length=TINY_WINDOW)
    serving = os.path.join(directory, "artifact", "Format-Serving")
    export_saved_model(payload, serving, TINY_WINDOW)
    save_weights(payload, serving)
    return dict(enformer=enformer, payload=payload, serving=serving, artifact=os.path.dirname(serving))


@pytest.fixture(scope="session")
def tiny_payload_model(tmp_path_factory) -> dict:
    """:func:`build_tiny_payload_model`, built once for the suite (prediction, interpretation and
    the hardening table share it)."""
    return build_tiny_payload_model(str(tmp_path_factory.mktemp("tiny_payload_model")))
