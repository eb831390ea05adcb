"""Vertex AI: compile (offline), dry-run submit/schedule, images, and local span-by-span retraining.

Nothing here reaches Google Cloud: the compiled JSON is checked structurally and by importing
every executor it names; submit/schedule requests are built by the SDK with networking blocked;
the Vertex training launch is followed through TFX's own code up to the API call.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import socket
from typing import Any

import pytest

from components.errors import InputError
from pipeline.config import load_config
from tests.test_pipeline import pipeline_config, write_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(REPO, "pipeline", "configs", "demo.yaml")
IMAGE = "europe-west4-docker.pkg.dev/lab-project/enformer/enformer-tfx:test"
GPU_IMAGE = "europe-west4-docker.pkg.dev/lab-project/enformer/enformer-tfx-gpu:test"
SERVICE_ACCOUNT = "pipelines@lab-project.iam.gserviceaccount.com"
DATAFLOW_ARGS = [
    "--runner=DataflowRunner", "--project=lab-project", "--region=europe-west4",
    "--temp_location=gs://lab-bucket/tmp", "--machine_type=n2-highmem-4", "--max_num_workers=8",
]
VERTEX_OVERRIDES = [
    "vertex.project=lab-project", "vertex.region=europe-west4", f"vertex.service_account={SERVICE_ACCOUNT}",
    "vertex.trainer.machine_type=n1-standard-8", "vertex.trainer.accelerator_type=NVIDIA_TESLA_T4",
    "vertex.trainer.accelerator_count=2", f"beam_pipeline_args=[{', '.join(DATAFLOW_ARGS)}]",
]
BEAM_COMPONENTS = ("PayloadExampleGen", "StatisticsGen", "Evaluator")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """demo.yaml + Vertex GPU training + Dataflow args, compiled by ``enformer-tfx compile``."""
    from pipeline.cli import main

    output = str(tmp_path_factory.mktemp("vertex") / "pipeline.json")
    overrides = [arg for override in VERTEX_OVERRIDES for arg in ("--set", override)]
    status = main(["compile", "--config", DEMO_CONFIG, "--image", IMAGE, "--trainer-image", GPU_IMAGE,
                   "--output", output, *overrides])
    assert status == 0
    with open(output) as handle:
        return output, json.load(handle)


def _executors(document: dict) -> dict:
    """Task name -> executor spec (container or resolver) of a compiled pipeline."""
    spec = document["pipelineSpec"]
    result = {}
    for task_name, task in spec["root"]["dag"]["tasks"].items():
        label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        result[task_name] = spec["deploymentSpec"]["executors"][label]
    return result


def _parameter(document: dict, task: str, name: str) -> Any:
    """A task's constant parameter: str, int (protobuf JSON writes int64 as a string) or float."""
    parameters = document["pipelineSpec"]["root"]["dag"]["tasks"][task]["inputs"]["parameters"]
    constant = parameters[name]["runtimeValue"]["constantValue"]
    if "intValue" in constant:
        return int(constant["intValue"])
    if "doubleValue" in constant:
        return float(constant["doubleValue"])
    return constant["stringValue"]


# ---------------------------------------------------------------------------------------------
# Compile
# ---------------------------------------------------------------------------------------------
def test_compiled_json_is_a_vertex_pipeline_spec(compiled):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    _, document = compiled
    # Strict parse: an unknown or mistyped field anywhere raises.
    spec = json_format.ParseDict(document["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    job = json_format.ParseDict(document, pipeline_spec_pb2.PipelineJob())
    assert spec.schema_version == "2.0.0" and spec.sdk_version.startswith("tfx-1.16")
    assert job.display_name == "enformer-tfx-demo"
    assert set(spec.root.dag.tasks) == {
        "PayloadExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Trainer",
        "Evaluator", "Pusher",
        # LatestBlessedModelStrategy compiles to two Vertex resolver tasks.
        "latest_blessed_model_resolver-model-blessing-resolver", "latest_blessed_model_resolver-model-resolver",
    }
    trainer_inputs = spec.root.dag.tasks["Trainer"].inputs.artifacts
    evaluator_inputs = spec.root.dag.tasks["Evaluator"].inputs.artifacts
    for inputs, key in ((trainer_inputs, "base_model"), (evaluator_inputs, "baseline_model")):
        assert inputs[key].task_output_artifact.producer_task == "latest_blessed_model_resolver-model-resolver"
    text = json.dumps(document)
    assert "__main__" not in text and "module_file" not in text and "_wheels" not in text


def test_every_component_has_image_and_an_importable_executor(compiled):
    _, document = compiled
    containers = 0
    for task, executor in _executors(document).items():
        if "resolver" in executor:
            assert task.startswith("latest_blessed_model_resolver")
            continue
        container = executor["container"]
        containers += 1
        assert container["image"] == IMAGE, task
        assert container["command"][:3] == ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
        class_path = container["args"][container["args"].index("--executor_class_path") + 1]
        module_name, class_name = class_path.rsplit(".", 1)
        module = importlib.import_module(module_name)  # from the installed package / TFX
        assert isinstance(getattr(module, class_name), type), class_path
        assert module_name.split(".")[0] in ("components", "tfx"), class_path
    assert containers == 7
    executors = _executors(document)
    assert executors["PayloadExampleGen"]["container"]["args"][1] == "components.payload_example_gen.executor.Executor"
    assert executors["Evaluator"]["container"]["args"][1] == "components.evaluation_report.executor.Executor"
    # Vertex resolves {SPAN} with TFX's ExampleGen driver hook before the executor runs.
    hook = executors["PayloadExampleGen"]["container"]["lifecycle"]["preCacheCheck"]
    assert hook["command"][-1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"
    # Custom code by dotted path, schema from the image's source tree (deploy/Dockerfile).
    assert _parameter(document, "Trainer", "run_fn") == "trainer.run.run_fn"
    assert _parameter(document, "ImportSchemaGen", "schema_file") == "/app/schemas/payload_schema.pbtxt"
    assert os.path.exists(os.path.join(REPO, "schemas", "payload_schema.pbtxt"))
    eval_config = json.loads(_parameter(document, "Evaluator", "eval_config"))
    metric_modules = {m["module"] for spec in eval_config["metrics_specs"] for m in spec["metrics"] if "module" in m}
    assert metric_modules == {"trainer.metrics"}
    importlib.import_module("trainer.metrics")


def test_trainer_runs_as_vertex_gpu_job_with_unchanged_custom_config(compiled):
    from tfx.extensions.google_cloud_ai_platform import constants
    from tfx.extensions.google_cloud_ai_platform.trainer import executor as gcp_trainer

    from trainer.settings import from_custom_config

    _, document = compiled
    assert _executors(document)["Trainer"]["container"]["args"][1] == (
        "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor")
    custom_config = json.loads(_parameter(document, "Trainer", "custom_config"))
    assert custom_config[constants.ENABLE_VERTEX_KEY] is True
    assert custom_config[constants.VERTEX_REGION_KEY] == "europe-west4"
    job = custom_config[gcp_trainer.TRAINING_ARGS_KEY]
    assert job["project"] == "lab-project"
    assert job["job_spec"]["service_account"] == SERVICE_ACCOUNT
    (pool,) = job["job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"] == {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4",
                                    "accelerator_count": 2}
    assert pool["container_spec"]["image_uri"] == GPU_IMAGE and pool["replica_count"] == 1
    demo = load_config(DEMO_CONFIG)
    model, training = from_custom_config(custom_config)
    assert (model, training) == (demo.model, demo.training)


def test_vertex_training_launch_passes_run_fn_and_custom_config_through(monkeypatch, tmp_path):
    """Follow TFX's extension executor to the CustomJob it would create (API call intercepted)."""
    from tfx.extensions.google_cloud_ai_platform import runner, training_clients
    from tfx.extensions.google_cloud_ai_platform.trainer import executor as gcp_trainer
    from tfx.types import standard_artifacts
    from google.protobuf import message
    from tfx.utils import json_utils, proto_utils

    from deploy.vertex import vertex_config_for, vertex_platform
    from pipeline.pipeline import create_pipeline
    from trainer.settings import from_custom_config

    config = vertex_config_for(load_config(DEMO_CONFIG, VERTEX_OVERRIDES), IMAGE, GPU_IMAGE)
    trainer = next(c for c in create_pipeline(config, vertex_platform(config)).components if c.id == "Trainer")
    # As the pipeline step receives them: protos as JSON text (custom_config already is).
    exec_properties = {key: proto_utils.proto_to_json(value) if isinstance(value, message.Message) else value
                       for key, value in trainer.exec_properties.items() if value is not None}
    launched = {}
    monkeypatch.setattr(training_clients.VertexJobClient, "create_client", lambda self: None)
    monkeypatch.setattr(runner, "_launch_cloud_training", lambda **kwargs: launched.update(kwargs))
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    gcp_trainer.GenericExecutor().Do({}, {"model": [model]}, exec_properties)

    assert launched["project"] == "lab-project" and launched["enable_vertex"] and launched["vertex_region"] == "europe-west4"
    (pool,) = launched["training_job"]["job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"]["accelerator_type"] == "NVIDIA_TESLA_T4"
    command = pool["container_spec"]["command"]
    assert pool["container_spec"]["image_uri"] == GPU_IMAGE
    assert command[:3] == ["python", "-m", "tfx.scripts.run_executor"]
    assert command[command.index("--executor_class_path") + 1] == "tfx.components.trainer.executor.GenericExecutor"
    inner = json.loads(command[command.index("--exec-properties") + 1])
    assert inner["run_fn"] == "trainer.run.run_fn"
    model_config, training = from_custom_config(json_utils.loads(inner["custom_config"]))
    assert (model_config, training) == (config.model, config.training)


def test_beam_args_reach_the_beam_components(compiled):
    _, document = compiled
    executors = _executors(document)
    expected = DATAFLOW_ARGS + [f"--sdk_container_image={IMAGE}"]
    for task in BEAM_COMPONENTS:
        args = executors[task]["container"]["args"]
        assert args[-len(expected):] == expected, (task, args)
    driver_args = executors["PayloadExampleGen"]["container"]["lifecycle"]["preCacheCheck"]["args"]
    assert driver_args[-len(expected):] == expected


def test_standard_trainer_and_endpoint_pusher(tmp_path, monkeypatch):
    """No vertex.trainer: stock Trainer on the pipeline worker; vertex.endpoint: Vertex push."""
    monkeypatch.chdir(tmp_path)  # the demo config's relative paths: nothing from an earlier make demo
    from tfx.extensions.google_cloud_ai_platform import constants

    from deploy.vertex import vertex_config_for, vertex_platform
    from pipeline.pipeline import create_pipeline

    config = load_config(DEMO_CONFIG, [
        "vertex.project=lab-project", "vertex.endpoint.endpoint_name=sox2",
        "vertex.endpoint.serving_image=us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest",
    ])
    vertex_config = vertex_config_for(config, IMAGE)
    components = {c.id: c for c in create_pipeline(vertex_config, vertex_platform(vertex_config)).components}
    assert type(components["Trainer"]).__module__ == "tfx.components.trainer.component"
    pusher = components["Pusher"]
    assert type(pusher).__module__ == "tfx.extensions.google_cloud_ai_platform.pusher.component"
    custom_config = json.loads(pusher.exec_properties["custom_config"])
    assert custom_config[constants.SERVING_ARGS_KEY]["endpoint_name"] == "sox2"
    assert custom_config[constants.SERVING_ARGS_KEY]["project"] == "lab-project"
    assert custom_config[constants.VERTEX_CONTAINER_IMAGE_URI_KEY].endswith("tf2-cpu.2-15:latest")
    # The same config runs locally with the standard components (vertex: is ignored there).
    local = {c.id: c for c in create_pipeline(config).components}
    assert type(local["Pusher"]).__module__ == "components.model_card.component"  # stock Pusher + model card


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["vertex.region=us-central1"], "vertex.project: required key is missing"),
        (["vertex.project=p", "vertex.trainer.accelerator_type=NVIDIA_TESLA_T4"], "vertex.trainer.accelerator_count: must be >= 1"),
        (["vertex.project=p", "vertex.trainer.accelerator_count=1", "vertex.trainer.machine_type=n1"], "vertex.trainer.accelerator_type: required"),
        (["vertex.project=p", "vertex.trainer.accelerator_type=t4", "vertex.trainer.accelerator_count=1"], "vertex.trainer.accelerator_type: expected a Vertex"),
        (["vertex.project=p", "vertex.trainer.gpus=1"], "vertex.trainer.gpus: unknown key"),
        (["vertex.project=p", "vertex.endpoint.endpoint_name=e"], "vertex.endpoint.serving_image: required key"),
        (["spans.mode=newest"], "spans.mode: expected one of"),
        (["spans.mode=pinned"], "payloads.activity_table: spans.mode 'pinned' needs a {SPAN}"),
    ],
)
def test_vertex_and_span_config_errors_name_the_key(overrides, message):
    with pytest.raises(InputError, match=re.escape(message)):
        load_config(DEMO_CONFIG, overrides)


def test_span_modes(tmp_path):
    from pipeline.pipeline import payload_example_gen_arguments

    config_path = write_config(str(tmp_path / "c.yaml"), pipeline_config(str(tmp_path), "/data", "chr3:1-100"))
    latest = payload_example_gen_arguments(load_config(config_path))
    assert latest["activity_table"].endswith("batch-{SPAN}/activity.tsv") and "range_config" not in latest
    pinned = payload_example_gen_arguments(load_config(config_path, ["spans.mode=pinned", "spans.span=3"]))
    assert pinned["range_config"].static_range.start_span_number == 3 == pinned["range_config"].static_range.end_span_number
    with pytest.raises(InputError, match=re.escape("payloads.payload_fasta: spans.mode 'all'")):
        load_config(config_path, ["spans.mode=all"])
    union = payload_example_gen_arguments(load_config(config_path, ["spans.mode=all", f"payloads.payload_fasta={tmp_path}/all.fa"]))
    assert union["activity_table"].endswith("batch-*/activity.tsv")


def test_compile_rejects_dataflow_without_temp_location(tmp_path, capsys):
    from pipeline.cli import main

    status = main(["compile", "--config", DEMO_CONFIG, "--image", IMAGE, "--output", str(tmp_path / "p.json"),
                   "--set", "beam_pipeline_args=[--runner=DataflowRunner, --project=p, --region=r]"])
    assert status == 2
    assert "beam_pipeline_args: DataflowRunner needs --temp_location" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Submit and schedule (dry run: requests built by the SDK, network blocked)
# ---------------------------------------------------------------------------------------------
JOB_ARGS = ["--project", "lab-project", "--region", "europe-west4", "--pipeline-root", "gs://lab-bucket/root",
            "--service-account", SERVICE_ACCOUNT, "--label", "team=payloads", "--dry-run"]


def test_submit_dry_run_prints_the_create_request(compiled, capsys, no_network):
    from pipeline.cli import main

    path, document = compiled
    assert main(["submit", path, *JOB_ARGS]) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["parent"] == "projects/lab-project/locations/europe-west4"
    assert request["pipelineJobId"].startswith("enformer-tfx-demo-")
    job = request["pipelineJob"]
    assert job["displayName"] == "enformer-tfx-demo"
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://lab-bucket/root"
    assert job["serviceAccount"] == SERVICE_ACCOUNT
    assert job["labels"]["team"] == "payloads"
    assert job["pipelineSpec"]["root"] == document["pipelineSpec"]["root"]


def test_schedule_dry_run_prints_the_schedule_request(compiled, capsys, no_network):
    from pipeline.cli import main

    path, _ = compiled
    assert main(["schedule", path, *JOB_ARGS, "--cron", "TZ=Europe/London 0 3 * * 1", "--max-run-count", "52"]) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["parent"] == "projects/lab-project/locations/europe-west4"
    schedule = request["schedule"]
    assert schedule["cron"] == "TZ=Europe/London 0 3 * * 1"
    assert schedule["displayName"] == "enformer-tfx-demo-schedule"
    assert int(schedule["maxConcurrentRunCount"]) == 1 and int(schedule["maxRunCount"]) == 52
    create_job = schedule["createPipelineJobRequest"]
    assert create_job["parent"] == "projects/lab-project/locations/europe-west4"
    assert create_job["pipelineJob"]["serviceAccount"] == SERVICE_ACCOUNT
    assert create_job["pipelineJob"]["runtimeConfig"]["gcsOutputDirectory"] == "gs://lab-bucket/root"
    assert "Trainer" in create_job["pipelineJob"]["pipelineSpec"]["root"]["dag"]["tasks"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["submit", "{path}", "--project", "p", "--region", "us-central1", "--pipeline-root", "/local", "--dry-run"], "--pipeline-root: expected a gs:// path"),
        (["submit", "{path}", "--project", "p", "--region", "mars-north1", "--pipeline-root", "gs://b", "--dry-run"], "--region: 'mars-north1' is not a Vertex AI region"),
        (["submit", "missing.json", "--project", "p", "--region", "us-central1", "--pipeline-root", "gs://b", "--dry-run"], "compiled pipeline not found"),
        (["schedule", "{path}", "--project", "p", "--region", "us-central1", "--pipeline-root", "gs://b", "--cron", "weekly", "--dry-run"], "--cron: expected a 5-field"),
    ],
)
def test_submit_and_schedule_input_errors(compiled, capsys, no_network, argv, message):
    from pipeline.cli import main

    path, _ = compiled
    assert main([arg.format(path=path) for arg in argv]) == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Images (cannot be built here: no Docker engine)
# ---------------------------------------------------------------------------------------------
def _dockerfile(name: str) -> str:
    with open(os.path.join(REPO, "deploy", name)) as handle:
        return handle.read()


def test_dockerfile_installs_the_lock_and_the_package():
    text = _dockerfile("Dockerfile")
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.10[\w.-]*-bookworm$", text, re.M), "Python 3.10 on Debian 12"
    assert "FROM ${PYTHON_IMAGE}" in instructions
    assert "COPY requirements.lock /app/requirements.lock" in instructions
    assert re.search(r"pip install --no-deps -r /app/requirements\.lock", text)
    assert re.search(r"pip install --no-deps /app\b", text)
    # Every COPY source exists in the repository (the build context).
    for line in instructions:
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert os.path.exists(os.path.join(REPO, source)), source
    # The compiled ImportSchemaGen path (vertex.source_dir default) is where the image puts schemas/.
    from deploy.vertex import DEFAULT_IMAGE_SOURCE_DIR

    assert f"COPY schemas/ {DEFAULT_IMAGE_SOURCE_DIR}/schemas/" in instructions
    # Dataflow custom container: the Beam SDK harness of the locked Beam version.
    with open(os.path.join(REPO, "requirements.lock")) as handle:
        lock = handle.read()
    beam = re.search(r"^apache-beam==([\d.]+)$", lock, re.M).group(1)
    assert f"apache/beam_python3.10_sdk:{beam}" in text
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in instructions


def test_gpu_dockerfile_extends_the_image_with_tensorflow_cuda_wheels():
    text = _dockerfile("Dockerfile.gpu")
    with open(os.path.join(REPO, "requirements.lock")) as handle:
        tensorflow = re.search(r"^tensorflow==([\d.]+)$", handle.read(), re.M).group(1)
    assert "FROM ${BASE_IMAGE}" in text
    assert f'-c /app/requirements.lock "tensorflow[and-cuda]=={tensorflow}"' in text


# ---------------------------------------------------------------------------------------------
# Scheduled retraining, locally: batch 1, then batch 2 (the new span)
# ---------------------------------------------------------------------------------------------
def _node_executions(store, component: str) -> list:
    """Executions of one pipeline node, oldest first, with their input/output artifact ids."""
    from ml_metadata.proto import metadata_store_pb2

    Event = metadata_store_pb2.Event
    (context,) = [c for c in store.get_contexts_by_type("node") if c.name.split(".")[-1] == component]
    result = []
    for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
        inputs, outputs = {}, {}
        for event in store.get_events_by_execution_ids([execution.id]):
            side = inputs if event.type == Event.INPUT else outputs if event.type == Event.OUTPUT else None
            if side is not None:
                side.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
        result.append({"inputs": inputs, "outputs": outputs})
    return result


@pytest.mark.slow
def test_new_batch_is_ingested_warm_started_and_compared_to_the_previous_model(payload_loop):
    """Run 3 of the shared loop: batch 2 arrives after run 1 blessed a model and run 2 was rejected."""
    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata

    first, rejected, third = payload_loop
    assert first.summary["blessed"] is True, "batch 1 must bless for the loop to start"
    assert rejected.summary["blessed"] is False, "run 2 leaves run 1's model as the latest blessed one"

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(third.config.metadata_path))
    example_gen = _node_executions(store, "PayloadExampleGen")
    trainer = _node_executions(store, "Trainer")
    evaluator = _node_executions(store, "Evaluator")
    # Run 3 ran twice: killed during training, then rerun (ExampleGen cached, the Trainer resumed).
    assert (len(example_gen), len(trainer), len(evaluator)) == (4, 4, 3)

    examples = [store.get_artifacts_by_id(run["outputs"]["examples"])[0] for run in example_gen]
    # ExampleGen's driver records span (and the input fingerprint) as custom properties.
    assert [e.custom_properties["span"].int_value for e in examples] == [1, 1, 2, 2], "span 2 is ingested"
    assert examples[1].id == examples[0].id, "run 2 reused span 1's examples from the cache"
    assert examples[3].id == examples[2].id, "the rerun reused the killed run's span-2 examples"
    first_model = trainer[0]["outputs"]["model"]
    assert "base_model" not in trainer[0]["inputs"], "nothing blessed before batch 1"
    assert "base_model" not in trainer[1]["inputs"], "run 2 was told not to warm start"
    for attempt in trainer[2:]:  # the killed Trainer and the resumed one
        assert attempt["inputs"]["base_model"] == first_model, "warm start from batch 1's blessed model"
        assert attempt["inputs"]["examples"] == [examples[2].id]
    assert evaluator[2]["inputs"]["baseline_model"] == first_model, "blessing compares against batch 1's model"
    assert evaluator[2]["inputs"]["model"] == trainer[3]["outputs"]["model"]
    # Pushed only if blessed.
    assert len(third.pushed) == 1 + int(third.summary["blessed"]), third.summary


def test_compile_with_the_designer(tmp_path):
    """A ``design:`` section adds a Designer task fed by the Trainer, Evaluator and ExampleGen;
    an ``interpret:`` section adds an Interpreter task fed the same way; ``evaluation.cross_validation``
    adds a k-fold ExampleGen, one Vertex training task per fold and the report (one compile for all)."""
    from pipeline.cli import main

    output = str(tmp_path / "design.json")
    overrides = VERTEX_OVERRIDES + [
        "model.ensemble=2", "payloads.annotation_bed=gs://lab-bucket/assays/annotation.bed",
        "design={acquisition: ucb, candidates: 500, batch_size: 12, "
        "output_location: 'gs://lab-bucket/proposals/batch-{SPAN}/design'}",
        "interpret={payloads: 3, method: saliency, seed: 4}", "evaluation.cross_validation=3",
    ]
    status = main(["compile", "--config", DEMO_CONFIG, "--image", IMAGE, "--trainer-image", GPU_IMAGE,
                   "--output", output, *[arg for override in overrides for arg in ("--set", override)]])
    assert status == 0
    document = json.load(open(output))
    tasks = document["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "Designer" in tasks
    producers = {name: spec["taskOutputArtifact"]["producerTask"]
                 for name, spec in tasks["Designer"]["inputs"]["artifacts"].items()}
    assert producers == {"model": "Trainer", "model_blessing": "Evaluator", "examples": "PayloadExampleGen"}
    assert _parameter(document, "Designer", "acquisition") == "ucb"
    assert _parameter(document, "Designer", "output_location") == "gs://lab-bucket/proposals/batch-{SPAN}/design"
    executor = _executors(document)["Designer"]
    args = executor["container"]["args"]
    path = args[args.index("--executor_class_path") + 1]
    module, _, name = path.rpartition(".")
    assert path == "components.designer.executor.Executor" and getattr(importlib.import_module(module), name)
    assert executor["container"]["image"] == IMAGE

    producers = {name: spec["taskOutputArtifact"]["producerTask"]
                 for name, spec in tasks["Interpreter"]["inputs"]["artifacts"].items()}
    assert producers == {"model": "Trainer", "model_blessing": "Evaluator", "examples": "PayloadExampleGen"}
    assert _parameter(document, "Interpreter", "method") == "saliency"
    assert _parameter(document, "Interpreter", "payloads") == 3
    assert _parameter(document, "Interpreter", "annotation_bed") == "gs://lab-bucket/assays/annotation.bed"
    args = _executors(document)["Interpreter"]["container"]["args"]
    assert args[args.index("--executor_class_path") + 1] == "components.interpret.executor.Executor"

    producers = {name: spec["taskOutputArtifact"]["producerTask"]
                 for name, spec in tasks["CrossValidation"]["inputs"]["artifacts"].items()}
    assert producers == {"examples": "CrossValidationExampleGen", **{
        f"fold{i}_model": f"CrossValidationTrainer{i}" for i in range(3)}}
    args = _executors(document)["CrossValidation"]["container"]["args"]
    assert args[args.index("--executor_class_path") + 1] == "components.cross_validation.executor.Executor"
    executors = _executors(document)
    for i in range(3):  # each fold trains like the main Trainer: a Vertex GPU job, no warm start
        assert executors[f"CrossValidationTrainer{i}"] == executors["Trainer"]
        assert "base_model" not in tasks[f"CrossValidationTrainer{i}"]["inputs"]["artifacts"]
        train_args = json.loads(_parameter(document, f"CrossValidationTrainer{i}", "train_args"))
        assert sorted(train_args["splits"]) == [f"fold{j}" for j in range(3) if j != i]
        assert _parameter(document, f"CrossValidationTrainer{i}", "custom_config") == _parameter(
            document, "Trainer", "custom_config")

def test_replica_count_adds_a_worker_pool_of_the_same_machines():
    from deploy.vertex import vertex_training_args
    from pipeline.config import VertexConfig, VertexTrainerConfig

    trainer = VertexTrainerConfig(machine_type="g2-standard-8", accelerator_type="NVIDIA_L4", accelerator_count=1,
                                  replica_count=3, image=GPU_IMAGE)
    chief, workers = vertex_training_args(VertexConfig(project="lab-project", trainer=trainer))["job_spec"][
        "worker_pool_specs"]
    assert chief["replica_count"] == 1 and workers["replica_count"] == 2
    assert chief["machine_spec"] == workers["machine_spec"] == {
        "machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_L4", "accelerator_count": 1}
    assert workers["container_spec"]["image_uri"] == GPU_IMAGE
    (single,) = vertex_training_args(VertexConfig(project="lab-project", trainer=VertexTrainerConfig(
        machine_type="g2-standard-8", image=GPU_IMAGE)))["job_spec"]["worker_pool_specs"]
    assert single["replica_count"] == 1
    with pytest.raises(ValueError, match="replica_count"):
        VertexTrainerConfig(machine_type="g2-standard-8", replica_count=0)
