"""Session-wide fixtures shared by the whole suite (it runs in one pytest process)."""
from __future__ import annotations

import os
import signal

import pytest

from tests.background import JOBS as BACKGROUND_JOBS

# Fixtures that build, train, export or run a TensorFlow model (tiny ones included) or the shared
# pipeline loop: every test using one is marked slow, so `make test-fast` (-m "not slow") keeps
# the NumPy, I/O, config and CLI-parsing rules and stays a short inner loop.
MODEL_FIXTURES = frozenset({"tiny_payload_model", "tiny_models", "tiny_checkpoint", "tiny", "models", "env",
                            *BACKGROUND_JOBS})


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    # The background jobs run from the first test on (the background fixture): their readers go last.
    items.sort(key=lambda item: bool(set(BACKGROUND_JOBS) & set(getattr(item, "fixturenames", ()))))


def pytest_configure(config) -> None:
    from tests.graph_speed import switch_off_grappler

    switch_off_grappler()


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


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory):
    """Starts the background pipeline jobs (tests.background) that the selected tests read, as the
    session's first test begins; kills the child if the session ends first."""
    from tests import background as jobs

    selected = [job for job in jobs.JOBS if any(job in item.fixturenames for item in request.session.items)]
    if not selected:
        yield None
        return
    demo_data = request.getfixturevalue("demo_data")
    context = request.getfixturevalue("demo_manifest")["context"]
    child = jobs.start(selected, str(tmp_path_factory.mktemp("background")), demo_data, context)
    yield child
    if child.process.poll() is None:
        os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait()


def _background_result(job: str):
    """The session fixture named ``job``: that background job's result (tests.background.JOBS)."""
    @pytest.fixture(scope="session", name=job)
    def result(background):
        return background.result(job)

    return result


# payload_loop, designer_run, cross_validation_run, track_run, distribution_report
for _job in BACKGROUND_JOBS:
    globals()[f"_{_job}_fixture"] = _background_result(_job)


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
