"""``create_pipeline(config)``: the TFX pipeline, identical for local runs and Vertex AI.

Data flow::

    PayloadExampleGen | BigWigTrackGen ─ Examples ─┬─ StatisticsGen ─ ExampleValidator
                                                   │      ImportSchemaGen(schemas/) ─┘
    Resolver(latest blessed Model) ────────────────┼─ Trainer(run_fn=trainer.run.run_fn)
                                                   └─ Evaluator(TFMA: Pearson r, Spearman rho,
                                                       MSE | mean track r; value + change
                                                       thresholds; report: evaluation_report/)
                                                          ├─ Pusher (blessed models only)
                                                          ├─ Designer (optional ``design:``;
                                                          │   next batch from a blessed model)
                                                          └─ Interpreter (optional ``interpret:``;
                                                              attributions of held-out payloads)

    Optional ``evaluation.cross_validation: K`` (see :func:`cross_validation_components`):
    CrossValidationExampleGen (folds fold0..fold<K-1>) ─ CrossValidationTrainer<i> x K
                                                       ─ CrossValidation (out-of-fold report)

Custom code is referenced by importable paths (``trainer.run.run_fn``, ``trainer.metrics``)
so the same definition compiles for Vertex, where the package is installed in the image.

``create_pipeline`` knows no deployment target: what differs between targets (the schema path
as the executors see it, the Trainer and Pusher components, where ML Metadata lives) comes in
a :class:`Platform`. Local runs use :data:`LOCAL`; ``deploy.vertex`` supplies the Vertex AI
platform (custom GPU training, endpoint push) for ``enformer-tfx compile``.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, List

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.bigwig_track_gen.component import BigWigTrackGen
from components.cross_validation.component import CrossValidation
from components.designer.component import Designer
from components.evaluation_report.component import ReportingEvaluator
from components.interpret.component import Interpreter
from components.model_card.component import CardPusher
from components.payload_example_gen.component import PayloadExampleGen
from components.payload_example_gen.params import KFOLD_PREFIX, folds_to_dict, kfold_folds
from pipeline.config import PipelineConfig, all_spans_pattern
from pipeline.recovery import close_interrupted_executions
from trainer import export
from trainer.settings import to_custom_config

RUN_FN = "trainer.run.run_fn"
METRICS_MODULE = "trainer.metrics"
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas")
SCHEMAS = {"finetune": "payload_schema.pbtxt", "tracks": "track_schema.pbtxt"}


def schema_path(mode: str, schema_dir: str = SCHEMA_DIR) -> str:
    """The TFDV schema shipped in ``schemas/`` for a training mode."""
    return os.path.join(schema_dir, SCHEMAS[mode])


def payload_example_gen_arguments(config: PipelineConfig) -> Dict[str, Any]:
    """``config.payloads`` plus what ``config.spans`` asks for (see :class:`SpansConfig`).

    Every mode uses only ExampleGen's own span machinery, so all compile for Vertex: the
    Vertex ExampleGen driver resolves the span; no resolver strategy is involved.
    """
    arguments = config.data_arguments()
    spans = config.spans
    if spans.mode == "pinned":
        arguments["range_config"] = tfx.proto.RangeConfig(
            static_range=tfx.proto.StaticRange(start_span_number=spans.span, end_span_number=spans.span)
        )
    elif spans.mode == "all":
        arguments["activity_table"] = all_spans_pattern(arguments["activity_table"])
    return arguments


def standard_trainer(config: PipelineConfig, **inputs: Any) -> Any:
    """The stock TFX Trainer running ``run_fn`` where the pipeline runs."""
    return tfx.components.Trainer(run_fn=RUN_FN, custom_config=to_custom_config(config.model, config.training), **inputs)


def filesystem_pusher(config: PipelineConfig, model: Any, model_blessing: Any) -> Any:
    """Pusher into versioned directories under ``config.push.destination``, each with its model
    card (``model_card.md`` + ``model_card.json``)."""
    return CardPusher(
        model=model,
        model_blessing=model_blessing,
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.push.destination)
        ),
    ).with_id("Pusher")


@dataclasses.dataclass(frozen=True)
class Platform:
    """The pieces of the pipeline that depend on where it runs; the graph itself does not.

    Attributes:
      schema_dir: ``schemas/`` as the ImportSchemaGen executor sees it.
      make_trainer: ``(config, **trainer inputs) -> Trainer component``.
      make_pusher: ``(config, model, model_blessing) -> Pusher component``.
      local_metadata: keep ML Metadata in the config's SQLite file (False: the orchestrator,
        e.g. Vertex AI Pipelines, keeps its own).
    """

    schema_dir: str = SCHEMA_DIR
    make_trainer: Callable[..., Any] = standard_trainer
    make_pusher: Callable[[PipelineConfig, Any, Any], Any] = filesystem_pusher
    local_metadata: bool = True


LOCAL = Platform()


def _threshold(lower_bound: Any, max_drop: Any) -> tfma.MetricThreshold:
    """Value floor (optional) and "no worse than the baseline by more than max_drop" (optional)."""
    threshold = tfma.MetricThreshold()
    if lower_bound is not None:
        threshold.value_threshold.CopyFrom(tfma.GenericValueThreshold(lower_bound={"value": float(lower_bound)}))
    if max_drop is not None:
        threshold.change_threshold.CopyFrom(
            tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                # TFMA passes candidate - baseline >= absolute; the epsilon absorbs float rounding, so a
                # drop of exactly max_drop passes.
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


def cross_validation_components(config: PipelineConfig, platform: Platform, schema: Any) -> List[Any]:
    """The k-fold cross-validation of ``config.evaluation.cross_validation = K`` folds.

    A second PayloadExampleGen splits the same payloads into ``fold0..fold<K-1>`` (the stable
    name hash of ``make-dataset --kfolds K``, so every payload is in exactly one fold); fold
    ``i``'s model is a stock Trainer node (same ``run_fn``, settings and platform as the main
    Trainer, so on Vertex each fold is its own training job) that trains on every other fold and
    validates on fold ``i``. It never warm-starts: the latest blessed model may have seen the
    held-out fold. ``CrossValidation`` then predicts each fold with its model (out of fold).
    The fold models only measure; the main Trainer's model is the one evaluated and pushed.
    """
    num_kfolds = config.evaluation.cross_validation
    arguments = payload_example_gen_arguments(config)
    arguments["folds"] = folds_to_dict(kfold_folds(num_kfolds))
    example_gen = PayloadExampleGen(**arguments).with_id("CrossValidationExampleGen")
    folds = [f"{KFOLD_PREFIX}{i}" for i in range(num_kfolds)]
    trainers = [
        platform.make_trainer(
            config,
            examples=example_gen.outputs["examples"],
            schema=schema,
            train_args=tfx.proto.TrainArgs(splits=[f for f in folds if f != held_out],
                                           num_steps=config.training.epochs * config.training.steps),
            eval_args=tfx.proto.EvalArgs(splits=[held_out], num_steps=None),
        ).with_id(f"CrossValidationTrainer{i}")
        for i, held_out in enumerate(folds)
    ]
    report = CrossValidation(examples=example_gen.outputs["examples"],
                             models=[trainer.outputs["model"] for trainer in trainers]).with_id("CrossValidation")
    return [example_gen, *trainers, report]


def create_pipeline(config: PipelineConfig, platform: Platform = LOCAL) -> tfx.dsl.Pipeline:
    """The whole pipeline for ``config`` (see module docstring) on ``platform``."""
    mode = config.training.mode
    if mode == "finetune":
        example_gen = PayloadExampleGen(**payload_example_gen_arguments(config))
    else:
        example_gen = BigWigTrackGen(**config.data_arguments())
    examples = example_gen.outputs["examples"]

    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path(mode, platform.schema_dir))
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    latest_blessed = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")

    trainer = platform.make_trainer(
        config,
        examples=examples,
        schema=schema_gen.outputs["schema"],
        base_model=latest_blessed.outputs["model"] if config.training.warm_start else None,
        train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=config.training.epochs * config.training.steps),
        eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=None),
    )
    # Without a change threshold there is nothing to compare, and leaving the baseline out keeps
    # the Evaluator's inputs (hence its cache key) the same from one run to the next.
    compares = config.evaluation.max_pearson_r_drop is not None
    evaluator = ReportingEvaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=latest_blessed.outputs["model"] if compares else None,
        eval_config=make_eval_config(config),
        example_splits=["eval"],
    ).with_id("Evaluator")
    pusher = platform.make_pusher(config, trainer.outputs["model"], evaluator.outputs["blessing"])
    components: List[Any] = [
        example_gen, statistics_gen, schema_gen, example_validator, latest_blessed, trainer, evaluator, pusher,
    ]
    if config.evaluation.cross_validation:  # an added estimate; blesses and pushes nothing
        components.extend(cross_validation_components(config, platform, schema_gen.outputs["schema"]))
    if config.design is not None:  # proposes the next span's batch when the model is blessed
        components.append(Designer(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                                   examples=examples, **config.design))
    if config.interpret is not None:  # explains held-out payloads when the model is blessed
        components.append(Interpreter(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                                      examples=examples, **config.interpret_arguments()))
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=(
            tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
            if platform.local_metadata else None
        ),
        beam_pipeline_args=list(config.beam_pipeline_args),
    )


def run_locally(config: PipelineConfig) -> None:
    """Run with BeamDagRunner (default) or LocalDagRunner, SQLite ML Metadata; prints one line
    per node (ran or cached, wall time) as :mod:`pipeline.node_status` describes."""
    import time

    from pipeline import node_status

    os.makedirs(os.path.dirname(os.path.abspath(config.metadata_path)), exist_ok=True)
    close_interrupted_executions(config.metadata_path, config.pipeline_root)
    pipeline = create_pipeline(config)
    if config.runner == "beam":
        node_status.ReportingBeamDagRunner().run(pipeline)
    else:
        started = time.time()
        tfx.orchestration.LocalDagRunner().run(pipeline)
        node_status.print_local_run(config.metadata_path, config.pipeline_name,
                                    [component.id for component in pipeline.components], started)
