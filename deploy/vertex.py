"""Compile ``create_pipeline(config)`` for Vertex AI Pipelines, submit it, schedule it.

:func:`vertex_platform` is the Vertex AI :class:`pipeline.pipeline.Platform`: the schema path
inside the image, Vertex custom training (GPU) for the Trainer when
``vertex.trainer.machine_type`` is set, a Vertex endpoint Pusher when ``vertex.endpoint`` is set,
and no local ML Metadata file. Everything else is the graph that runs locally.

Three steps, each usable without the others::

    compile_pipeline(config, image, "pipeline.json")            # KubeflowV2DagRunner, offline
    job = pipeline_job("pipeline.json", project, region, root)  # aiplatform.PipelineJob, offline
    submit(job) / create_schedule(job, cron)                    # the only network calls

``submit_request`` and ``schedule_request`` return the exact request bodies (``--dry-run``)
without credentials or network: the job object is built with anonymous credentials (clients
are created lazily, so nothing connects), and the schedule goes through the SDK's own
``PipelineJobSchedule.create`` with a client that records the request instead of sending it.
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any, Dict, List, Optional

from components.config_validation import field_default
from components.errors import InputError
from pipeline.config import PipelineConfig, VertexConfig

# deploy/Dockerfile's WORKDIR of the source tree in the image (the config's default).
DEFAULT_IMAGE_SOURCE_DIR = field_default(VertexConfig, "source_dir")


def _flag_value(args: List[str], flag: str) -> Optional[str]:
    """Value of ``--flag=value`` / ``--flag value`` in a Beam argument list (None if absent)."""
    for index, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
    return None


def uses_dataflow(beam_pipeline_args: List[str]) -> bool:
    return _flag_value(beam_pipeline_args, "--runner") == "DataflowRunner"


def vertex_config_for(config: PipelineConfig, image: str, trainer_image: Optional[str] = None) -> PipelineConfig:
    """A copy of ``config`` completed for Vertex: images filled in, Dataflow workers on our image.

    * ``vertex.trainer.image`` defaults to ``trainer_image`` or ``image``.
    * Dataflow workers need our package (executors, ``trainer.metrics``); unless the config sets
      ``--sdk_container_image``, they get the pipeline image, which deploy/Dockerfile makes a
      valid Beam SDK container.
    """
    config = copy.deepcopy(config)
    if not image:
        raise InputError("--image: required (the pipeline image built from deploy/Dockerfile)")
    vertex = config.vertex
    if vertex is not None and vertex.trainer is not None and vertex.trainer.machine_type and not vertex.trainer.image:
        vertex.trainer.image = trainer_image or image
    elif trainer_image:
        if vertex is None or vertex.trainer is None or not vertex.trainer.machine_type:
            raise InputError("--trainer-image: needs vertex.trainer.machine_type in the config (Vertex training)")
        vertex.trainer.image = trainer_image
    args = list(config.beam_pipeline_args)
    if uses_dataflow(args):
        for flag in ("--project", "--region", "--temp_location"):
            if _flag_value(args, flag) is None:
                raise InputError(f"beam_pipeline_args: DataflowRunner needs {flag}=...")
        if _flag_value(args, "--sdk_container_image") is None:
            args.append(f"--sdk_container_image={image}")
    config.beam_pipeline_args = args
    return config


def local_path_warnings(config: PipelineConfig) -> List[str]:
    """Inputs and outputs that Vertex/Dataflow workers cannot reach (paths not on ``gs://``)."""
    paths = {"pipeline_root": config.pipeline_root}
    if config.vertex is None or config.vertex.endpoint is None:
        paths["push.destination"] = config.push.destination
    section = "payloads" if config.training.mode == "finetune" else "tracks"
    for key, value in config.data_arguments().items():
        if isinstance(value, str) and ("/" in value or value.endswith((".fa", ".tsv", ".bed"))):
            paths[f"{section}.{key}"] = value
    return [f"{key}: {value!r} is not a gs:// path; Vertex and Dataflow workers cannot read local files"
            for key, value in paths.items() if not value.startswith("gs://")]


def vertex_training_args(vertex: VertexConfig) -> Dict[str, Any]:
    """``TRAINING_ARGS_KEY`` value: a Vertex CustomJob (``job_spec.worker_pool_specs``) + project.

    TFX pops ``project``, keeps the rest as the CustomJob and sets the container command to
    ``python -m tfx.scripts.run_executor`` with the Trainer's exec properties, so ``run_fn`` and
    our ``custom_config`` reach ``tfx.components.trainer.executor.GenericExecutor`` unchanged.
    """
    trainer = vertex.trainer
    assert trainer is not None and trainer.machine_type
    machine_spec: Dict[str, Any] = {"machine_type": trainer.machine_type}
    if trainer.accelerator_type:
        machine_spec["accelerator_type"] = trainer.accelerator_type
        machine_spec["accelerator_count"] = trainer.accelerator_count
    worker_pool: Dict[str, Any] = {
        "machine_spec": machine_spec,
        "replica_count": 1,  # pool 0 is the chief; Vertex sets TF_CONFIG / CLUSTER_SPEC on every machine
        # Without an image TFX would use the stock TFX image, which lacks trainer.run.
        "container_spec": {"image_uri": trainer.image},
    }
    if trainer.boot_disk_size_gb:
        worker_pool["disk_spec"] = {"boot_disk_size_gb": trainer.boot_disk_size_gb}
    pools = [worker_pool]
    if trainer.replica_count > 1:  # the same machines as workers (run_fn: MultiWorkerMirroredStrategy)
        pools.append({**copy.deepcopy(worker_pool), "replica_count": trainer.replica_count - 1})
    job_spec: Dict[str, Any] = {"worker_pool_specs": pools}
    if vertex.service_account:
        job_spec["service_account"] = vertex.service_account
    return {"project": vertex.project, "job_spec": job_spec}


def vertex_trainer(config: PipelineConfig, **inputs: Any) -> Any:
    """The Google Cloud extension Trainer (a Vertex CustomJob) when ``vertex.trainer`` asks for
    custom training; otherwise the stock Trainer on the pipeline worker."""
    from tfx import v1 as tfx

    from pipeline.pipeline import RUN_FN, standard_trainer
    from trainer.settings import to_custom_config

    vertex = config.vertex
    if vertex is None or not vertex.custom_training:
        return standard_trainer(config, **inputs)
    if not vertex.trainer.image:  # type: ignore[union-attr]
        raise ValueError("vertex.trainer.image is unset: compile through deploy.vertex.compile_pipeline")
    gcp = tfx.extensions.google_cloud_ai_platform
    # Our keys ("model", "training") stay as they are; from_custom_config ignores the others.
    custom_config = {
        **to_custom_config(config.model, config.training),
        gcp.ENABLE_VERTEX_KEY: True,
        gcp.VERTEX_REGION_KEY: vertex.region,
        gcp.TRAINING_ARGS_KEY: vertex_training_args(vertex),
    }
    return gcp.Trainer(run_fn=RUN_FN, custom_config=custom_config, **inputs)


def vertex_pusher(config: PipelineConfig, model: Any, model_blessing: Any) -> Any:
    """A Vertex endpoint Pusher when ``vertex.endpoint`` is set, else the filesystem Pusher."""
    from tfx import v1 as tfx

    from pipeline.pipeline import filesystem_pusher

    vertex = config.vertex
    if vertex is None or vertex.endpoint is None:
        return filesystem_pusher(config, model, model_blessing)
    gcp = tfx.extensions.google_cloud_ai_platform
    endpoint = vertex.endpoint
    serving_args = {
        "project": vertex.project,
        "endpoint_name": endpoint.endpoint_name,
        # Forwarded by TFX to aiplatform.Model.deploy().
        "machine_type": endpoint.machine_type,
        "min_replica_count": endpoint.min_replica_count,
        "max_replica_count": endpoint.max_replica_count,
    }
    return gcp.Pusher(
        model=model,
        model_blessing=model_blessing,
        custom_config={
            gcp.ENABLE_VERTEX_KEY: True,
            gcp.VERTEX_REGION_KEY: vertex.region,
            gcp.VERTEX_CONTAINER_IMAGE_URI_KEY: endpoint.serving_image,
            gcp.SERVING_ARGS_KEY: serving_args,
        },
    )


def vertex_platform(config: PipelineConfig) -> Any:
    """The Vertex AI :class:`pipeline.pipeline.Platform` for ``config``."""
    from pipeline.pipeline import Platform

    source_dir = config.vertex.source_dir if config.vertex is not None else DEFAULT_IMAGE_SOURCE_DIR
    return Platform(schema_dir=os.path.join(source_dir, "schemas"), make_trainer=vertex_trainer,
                    make_pusher=vertex_pusher, local_metadata=False)


def compile_pipeline(
    config: PipelineConfig,
    image: str,
    output: str,
    trainer_image: Optional[str] = None,
    display_name: Optional[str] = None,
) -> Dict[str, Any]:
    """Write the Vertex pipeline JSON for ``config`` to ``output``; return it as a dict."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipeline.pipeline import create_pipeline

    vertex_config = vertex_config_for(config, image, trainer_image)
    pipeline = create_pipeline(vertex_config, vertex_platform(vertex_config))
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            display_name=display_name or vertex_config.pipeline_name, default_image=image
        ),
        output_dir=os.path.dirname(os.path.abspath(output)),
        output_filename=os.path.basename(output),
    )
    return runner.run(pipeline, write_out=True)


# ---------------------------------------------------------------------------------------------
# Submit and schedule (google.cloud.aiplatform)
# ---------------------------------------------------------------------------------------------
def pipeline_job(
    template_path: str,
    project: str,
    region: str,
    pipeline_root: str,
    display_name: Optional[str] = None,
    job_id: Optional[str] = None,
    enable_caching: Optional[bool] = None,
    labels: Optional[Dict[str, str]] = None,
    offline: bool = False,
) -> Any:
    """``aiplatform.PipelineJob`` for a compiled pipeline; ``offline`` = anonymous credentials.

    Built from arguments only (no ``aiplatform.init``), so nothing global is changed and the
    offline object never looks for Application Default Credentials.
    """
    # Cheap checks first: a wrong path fails before the seconds-long aiplatform import.
    if not os.path.exists(template_path):
        raise InputError(f"{template_path}: compiled pipeline not found (run `enformer-tfx compile` first)")
    if not pipeline_root.startswith("gs://"):
        raise InputError(f"--pipeline-root: expected a gs:// path, got {pipeline_root!r}")
    from google.cloud import aiplatform
    from google.cloud.aiplatform import utils as aiplatform_utils

    try:
        aiplatform_utils.validate_region(region)
    except ValueError:
        raise InputError(f"--region: {region!r} is not a Vertex AI region (e.g. us-central1, europe-west4)") from None
    with open(template_path) as handle:
        try:
            spec = json.load(handle)
        except json.JSONDecodeError as error:
            raise InputError(f"{template_path}: not a compiled pipeline JSON: {error}") from None
    name = display_name or spec.get("displayName") or spec.get("pipelineSpec", {}).get("pipelineInfo", {}).get("name")
    credentials = None
    if offline:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    return aiplatform.PipelineJob(
        display_name=name,
        template_path=template_path,
        job_id=job_id,
        pipeline_root=pipeline_root,
        enable_caching=enable_caching,
        labels=labels,
        project=project,
        location=region,
        credentials=credentials,
    )


def _message_to_dict(message: Any) -> Dict[str, Any]:
    """proto-plus message -> JSON-ready dict (camelCase field names, as the REST API uses)."""
    from google.protobuf import json_format

    return json_format.MessageToDict(type(message).pb(message))


def submit_request(job: Any, service_account: Optional[str] = None, network: Optional[str] = None) -> Dict[str, Any]:
    """The ``CreatePipelineJobRequest`` that ``submit(job, ...)`` sends, as a dict (no network).

    Mirrors ``PipelineJob.submit``: it sets ``service_account``/``network`` on the job resource
    and creates it under ``projects/P/locations/R`` with the job id.
    """
    resource = copy.deepcopy(job._gca_resource)  # the SDK's request body for the job
    if service_account:
        resource.service_account = service_account
    if network:
        resource.network = network
    return {"parent": job._parent, "pipelineJobId": job.job_id, "pipelineJob": _message_to_dict(resource)}


def submit(job: Any, service_account: Optional[str] = None, network: Optional[str] = None) -> str:
    """Create the pipeline run on Vertex AI (network); returns its resource name."""
    job.submit(service_account=service_account or None, network=network or None)
    return job.resource_name


class _Captured(Exception):
    """Raised by :class:`_RecordingScheduleClient` to stop the SDK before the network call."""

    def __init__(self, request: Dict[str, Any]):
        super().__init__("captured")
        self.request = request


class _RecordingScheduleClient:
    """Stands in for the Vertex ScheduleService client: records ``create_schedule``."""

    def create_schedule(self, parent: str, schedule: Any, timeout: Optional[float] = None) -> Any:
        raise _Captured({"parent": parent, "schedule": _message_to_dict(schedule)})


def _schedule_arguments(cron: str, display_name: Optional[str], job: Any, **options: Any) -> Dict[str, Any]:
    if len(cron.split()) < 5:
        raise InputError(f"--cron: expected a 5-field cron expression such as '0 3 * * 1', got {cron!r}")
    # job.display_name needs a created job; the pending request body already holds it.
    name = display_name or f"{job._gca_resource.display_name}-schedule"
    arguments: Dict[str, Any] = {"cron": cron, "display_name": name}
    arguments.update({key: value for key, value in options.items() if value is not None})
    return arguments


def schedule_request(job: Any, cron: str, display_name: Optional[str] = None, **options: Any) -> Dict[str, Any]:
    """The ``CreateScheduleRequest`` that ``create_schedule(job, cron, ...)`` sends (no network).

    Runs the SDK's own ``PipelineJobSchedule`` construction and ``create`` (what
    ``PipelineJob.create_schedule`` does) with a recording client, so every field the SDK sets
    (cron, concurrency, queueing, service account, the embedded CreatePipelineJobRequest) shows.
    """
    from google.cloud import aiplatform

    arguments = _schedule_arguments(cron, display_name, job, **options)
    schedule = aiplatform.PipelineJobSchedule(
        pipeline_job=job, display_name=arguments.pop("display_name"),
        credentials=job.credentials, project=job.project, location=job.location,
    )
    schedule.api_client = _RecordingScheduleClient()
    try:
        schedule.create(**arguments)
    except _Captured as captured:
        return captured.request
    raise RuntimeError("PipelineJobSchedule.create did not call create_schedule")  # SDK changed


def create_schedule(job: Any, cron: str, display_name: Optional[str] = None, **options: Any) -> str:
    """Create the Vertex pipeline schedule (network); returns its resource name."""
    arguments = _schedule_arguments(cron, display_name, job, **options)
    schedule = job.create_schedule(**arguments)
    return schedule.resource_name


__all__ = [
    "compile_pipeline", "create_schedule", "local_path_warnings", "pipeline_job", "schedule_request",
    "submit", "submit_request", "uses_dataflow", "vertex_config_for",
]
