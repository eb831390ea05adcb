"""``create_pipeline(config)``: the TFX pipeline, identical for local runs and Vertex AI.

Data flow::

    PayloadExampleGen | BigWigTrackGen ─ Examples ─┬─ StatisticsGen ─ ExampleValidator
                                                   │      ImportSchemaGen(schemas/) ─┘
    Resolver(latest blessed Model) ────────────────┼─ Trainer(run_fn=trainer.run.run_fn)
                                                   └─ Evaluator(TFMA: Pearson r, Spearman rho,
                                                       MSE; value + change thresholds)
                                                          └─ Pusher (blessed models only)

Custom code is referenced by importable paths (``trainer.run.run_fn``, ``trainer.metrics``)
so the same definition compiles for Vertex, where the package is installed in the image.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.bigwig_track_gen.component import BigWigTrackGen
from components.evaluation_report.component import PayloadEvaluator
from components.payload_example_gen.component import PayloadExampleGen
from pipeline.config import PipelineConfig
from trainer.settings import to_custom_config

RUN_FN = "trainer.run.run_fn"
METRICS_MODULE = "trainer.metrics"
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas")
SCHEMAS = {"finetune": "payload_schema.pbtxt", "tracks": "track_schema.pbtxt"}


def schema_path(mode: str) -> str:
    """The TFDV schema shipped in ``schemas/`` for a training mode."""
    return os.path.join(SCHEMA_DIR, SCHEMAS[mode])


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
            signature_name="serving_default", label_key="target_values", prediction_key="tracks",
            preprocessing_function_names=["decode_target"],
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


def create_pipeline(config: PipelineConfig) -> tfx.dsl.Pipeline:
    """The whole pipeline for ``config`` (see module docstring)."""
    mode = config.training.mode
    if mode == "finetune":
        example_gen = PayloadExampleGen(**config.payloads)
    else:
        example_gen = BigWigTrackGen(**config.tracks)
    examples = example_gen.outputs["examples"]

    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path(mode))
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    latest_blessed = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")

    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=examples,
        schema=schema_gen.outputs["schema"],
        base_model=latest_blessed.outputs["model"] if config.training.warm_start else None,
        train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=config.training.epochs * config.training.steps),
        eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=None),
        custom_config=to_custom_config(config.model, config.training),
    )
    evaluator = PayloadEvaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=latest_blessed.outputs["model"],
        eval_config=make_eval_config(config),
        example_splits=["eval"],
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.push.destination)
        ),
    )
    components: List[Any] = [
        example_gen, statistics_gen, schema_gen, example_validator, latest_blessed, trainer, evaluator, pusher,
    ]
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
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
