"""``create_pipeline(config)``: the TFX pipeline, identical for local runs and Vertex AI.

Data flow::

    PayloadExampleGen | BigWigTrackGen ─ Examples ─┬─ StatisticsGen ─ ExampleValidator
                                                   │      ImportSchemaGen(schemas/) ─┘
    Resolver(latest blessed Model) ────────────────┼─ Trainer(run_fn=trainer.run.run_fn)
                                                   └─ Evaluator(TFMA: Pearson r, Spearman rho,
                                                       MSE; value + change thresholds)
                                                          ├─ Pusher (blessed models only)
                                                          └─ Designer (optional ``design:``;
                                                              next batch from a blessed model)

Custom code is referenced by importable paths (``trainer.run.run_fn``, ``trainer.metrics``)
so the same definition compiles for Vertex, where the package is installed in the image.

``target="vertex"`` (``enformer-tfx compile``) changes only what must differ on Vertex AI: the
schema path inside the image, Vertex custom training (GPU) for the Trainer when
``vertex.trainer.machine_type`` is set, a Vertex endpoint Pusher when ``vertex.endpoint`` is
set, and no local ML Metadata file. Everything else is the graph that runs locally.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.bigwig_track_gen.component import BigWigTrackGen
from components.designer.component import Designer
from components.evaluation_report.component import PayloadEvaluator
from components.payload_example_gen.component import PayloadExampleGen
from pipeline.config import PipelineConfig, VertexConfig, all_spans_pattern
from trainer import export
from trainer.settings import to_custom_config

RUN_FN = "trainer.run.run_fn"
METRICS_MODULE = "trainer.metrics"
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas")
SCHEMAS = {"finetune": "payload_schema.pbtxt", "tracks": "track_schema.pbtxt"}
TARGETS = ("local", "vertex")
DEFAULT_IMAGE_SOURCE_DIR = "/app"  # deploy/Dockerfile: WORKDIR of the source tree in the image


def schema_path(mode: str, schema_dir: str = SCHEMA_DIR) -> str:
    """The TFDV schema shipped in ``schemas/`` for a training mode."""
    return os.path.join(schema_dir, SCHEMAS[mode])


def payload_example_gen_arguments(config: PipelineConfig) -> Dict[str, Any]:
    """``config.payloads`` plus what ``config.spans`` asks for (see :class:`SpansConfig`).

    Every mode uses only ExampleGen's own span machinery, so all compile for Vertex: the
    Vertex ExampleGen driver resolves the span; no resolver strategy is involved.
    """
    arguments = dict(config.payloads or {})
    spans = config.spans
    if spans.mode == "pinned":
        arguments["range_config"] = tfx.proto.RangeConfig(
            static_range=tfx.proto.StaticRange(start_span_number=spans.span, end_span_number=spans.span)
        )
    elif spans.mode == "all":
        arguments["activity_table"] = all_spans_pattern(arguments["activity_table"])
    return arguments


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
        "replica_count": 1,  # run_fn trains on one machine (no distribution strategy)
        # Without an image TFX would use the stock TFX image, which lacks trainer.run.
        "container_spec": {"image_uri": trainer.image},
    }
    if trainer.boot_disk_size_gb:
        worker_pool["disk_spec"] = {"boot_disk_size_gb": trainer.boot_disk_size_gb}
    job_spec: Dict[str, Any] = {"worker_pool_specs": [worker_pool]}
    if vertex.service_account:
        job_spec["service_account"] = vertex.service_account
    return {"project": vertex.project, "job_spec": job_spec}


def _make_trainer(config: PipelineConfig, target: str, **inputs: Any) -> Any:
    """Standard Trainer, or the Google Cloud extension Trainer (Vertex CustomJob) on Vertex."""
    custom_config = to_custom_config(config.model, config.training)
    vertex = config.vertex
    if target == "vertex" and vertex is not None and vertex.custom_training:
        if not vertex.trainer.image:  # type: ignore[union-attr]
            raise ValueError("vertex.trainer.image is unset: compile through deploy.vertex.compile_pipeline")
        gcp = tfx.extensions.google_cloud_ai_platform
        # Our keys ("model", "training") stay as they are; from_custom_config ignores the others.
        custom_config = {
            **custom_config,
            gcp.ENABLE_VERTEX_KEY: True,
            gcp.VERTEX_REGION_KEY: vertex.region,
            gcp.TRAINING_ARGS_KEY: vertex_training_args(vertex),
        }
        return gcp.Trainer(run_fn=RUN_FN, custom_config=custom_config, **inputs)
    return tfx.components.Trainer(run_fn=RUN_FN, custom_config=custom_config, **inputs)


def _make_pusher(config: PipelineConfig, target: str, model: Any, model_blessing: Any) -> Any:
    """Filesystem Pusher (versioned directories), or a Vertex endpoint Pusher on Vertex."""
    vertex = config.vertex
    if target == "vertex" and vertex is not None and vertex.endpoint is not None:
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
    return tfx.components.Pusher(
        model=model,
        model_blessing=model_blessing,
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.push.destination)
        ),
    )


def _threshold(lower_bound: Any, max_drop: Any) -> tfma.MetricThreshold:
    """Value floor (optional) and "no worse than the baseline by more than max_drop" (optional)."""
    threshold = tfma.MetricThreshold()
    if lower_bound is not None:
        threshold.value_threshold.CopyFrom(tfma.GenericValueThreshold(lower_bound={"value": float(lower_bound)}))
    if max_drop is not None:
        threshold.change_threshold.CopyFrom(
            tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                # TFMA compares candidate - baseline > absolute; a tiny epsilon admits equality.
                absolute={"value": -float(max_drop) - 1e-9},
            )
        )
    return threshold


def make_eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """TFMA config: our correlation metrics + MSE, thresholds from ``config.evaluation``."""
    evaluation = config.evaluation
    if config.training.mode == "finetune":
        model_spec = tfma.ModelSpec(signature_name="serving_default", label_key="activity", prediction_key="activity")
        metrics = [
            tfma.MetricConfig(
                class_name="PearsonCorrelation", module=METRICS_MODULE,
                threshold=_threshold(evaluation.min_pearson_r, evaluation.max_pearson_r_drop),
            ),
            tfma.MetricConfig(
                class_name="SpearmanCorrelation", module=METRICS_MODULE,
                threshold=_threshold(evaluation.min_spearman_rho, None) if evaluation.min_spearman_rho is not None else None,
            ),
            tfma.MetricConfig(class_name="MeanSquaredError"),
            tfma.MetricConfig(class_name="ExampleCount"),
        ]
    else:
        model_spec = tfma.ModelSpec(
            signature_name="serving_default", label_key=export.TARGET_VALUES, prediction_key="tracks",
            preprocessing_function_names=[export.DECODE_TARGET_SIGNATURE],
        )
        metrics = [
            tfma.MetricConfig(
                class_name="MeanTrackPearson", module=METRICS_MODULE,
                threshold=_threshold(evaluation.min_pearson_r, evaluation.max_pearson_r_drop),
            ),
            tfma.MetricConfig(class_name="ExampleCount"),
        ]
    return tfma.EvalConfig(
        model_specs=[model_spec], slicing_specs=[tfma.SlicingSpec()], metrics_specs=[tfma.MetricsSpec(metrics=metrics)]
    )


def create_pipeline(config: PipelineConfig, target: str = "local") -> tfx.dsl.Pipeline:
    """The whole pipeline for ``config`` (see module docstring); ``target``: local | vertex."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    mode = config.training.mode
    if mode == "finetune":
        example_gen = PayloadExampleGen(**payload_example_gen_arguments(config))
    else:
        example_gen = BigWigTrackGen(**config.tracks)
    examples = example_gen.outputs["examples"]

    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    if target == "vertex":
        source_dir = config.vertex.source_dir if config.vertex is not None else DEFAULT_IMAGE_SOURCE_DIR
        schema_file = schema_path(mode, os.path.join(source_dir, "schemas"))
    else:
        schema_file = schema_path(mode)
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_file)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    latest_blessed = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")

    trainer = _make_trainer(
        config,
        target,
        examples=examples,
        schema=schema_gen.outputs["schema"],
        base_model=latest_blessed.outputs["model"] if config.training.warm_start else None,
        train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=config.training.epochs * config.training.steps),
        eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=None),
    )
    evaluator = PayloadEvaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=latest_blessed.outputs["model"],
        eval_config=make_eval_config(config),
        example_splits=["eval"],
    )
    pusher = _make_pusher(config, target, trainer.outputs["model"], evaluator.outputs["blessing"])
    components: List[Any] = [
        example_gen, statistics_gen, schema_gen, example_validator, latest_blessed, trainer, evaluator, pusher,
    ]
    if config.design is not None:  # proposes the next span's batch when the model is blessed
        components.append(Designer(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                                   examples=examples, **config.design))
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        # Vertex AI Pipelines keeps its own ML Metadata; the SQLite file is for local runs.
        metadata_connection_config=(
            tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
            if target == "local" else None
        ),
        beam_pipeline_args=list(config.beam_pipeline_args),
    )


def run_locally(config: PipelineConfig) -> None:
    """Run with BeamDagRunner (default) or LocalDagRunner, SQLite ML Metadata."""
    os.makedirs(os.path.dirname(os.path.abspath(config.metadata_path)), exist_ok=True)
    pipeline = create_pipeline(config)
    if config.runner == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

        BeamDagRunner().run(pipeline)
    else:
        tfx.orchestration.LocalDagRunner().run(pipeline)
