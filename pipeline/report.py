"""What a finished local run produced, read back from ML Metadata: executions, metrics, push."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

from pipeline.config import PipelineConfig
from trainer.settings import PREDICT_PEAK_TRACK


def _store(config: PipelineConfig):
    from pipeline.history import open_store

    return open_store(config.metadata_path)


def latest_artifact(config: PipelineConfig, type_name: str) -> Optional[Any]:
    """Newest artifact of ``type_name`` in the pipeline's ML Metadata (None if none)."""
    artifacts = _store(config).get_artifacts_by_type(type_name)
    return max(artifacts, key=lambda a: a.id) if artifacts else None


def latest_summary(config: PipelineConfig) -> Optional[Dict[str, Any]]:
    """``summary.json`` of the newest ModelEvaluation: payload models Pearson r, Spearman rho, MSE;
    track models (``kind: tracks``) the mean and per-track Pearson r; both ``blessed``."""
    evaluation = latest_artifact(config, "ModelEvaluation")
    if evaluation is None:
        return None
    path = os.path.join(evaluation.uri, "summary.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        summary = json.load(handle)
    summary["uri"] = evaluation.uri
    return summary


def served_from_cache(config: PipelineConfig, artifact: Any) -> bool:
    """True when the newest execution that output ``artifact`` was a cache hit (the artifact was
    computed by an earlier run and only re-published by the newest one)."""
    from ml_metadata.proto import metadata_store_pb2

    store = _store(config)
    producers = [event.execution_id for event in store.get_events_by_artifact_ids([artifact.id])
                 if event.type == metadata_store_pb2.Event.OUTPUT]
    if not producers:
        return False
    newest = store.get_executions_by_id([max(producers)])[0]
    return newest.last_known_state == metadata_store_pb2.Execution.CACHED


def pushed_models(config: PipelineConfig) -> List[str]:
    """Versioned directories under the push destination, oldest first."""
    root = config.push.destination
    if not os.path.isdir(root):
        return []
    return sorted(os.path.join(root, name) for name in os.listdir(root) if name.isdigit())


def print_run_summary(config: PipelineConfig) -> int:
    """Print the held-out metrics and push outcome of the newest run; 0 on success."""
    summary = latest_summary(config)
    evaluation = latest_artifact(config, "ModelEvaluation")
    if evaluation is not None and served_from_cache(config, evaluation):
        print("every input was unchanged: the evaluation below is cached from an earlier run "
              f"({evaluation.uri})")
    if summary is None:
        evaluation = latest_artifact(config, "ModelEvaluation")
        if evaluation is None:
            print("no evaluation found")
            return 0
        metrics = tfma_metrics(evaluation.uri)
        shown = "  ".join(f"{name}={value:.3f}" for name, value in sorted(metrics.items()))
        blessing = latest_artifact(config, "ModelBlessing")
        blessed = bool(blessing and os.path.exists(os.path.join(blessing.uri, "BLESSED")))
        print(f"evaluation ({evaluation.uri}): {shown}  blessed={blessed}")
    elif summary.get("kind") == "tracks":
        print_track_summary(summary)
    else:
        print_payload_summary(summary)
    pushed = pushed_models(config)
    print(f"pushed models: {pushed[-1] if pushed else 'none'}" + (f" ({len(pushed)} versions)" if len(pushed) > 1 else ""))
    print_history(config)
    if config.interpret is not None:
        print(attribution_report_line(config))
    if pushed and summary is not None and config.payloads:
        print(f"why it predicts what it does (ISM of 3 held-out payloads, motifs):\n  {attribute_command(config, summary)}")
    if pushed and config.payloads:
        print_prediction_commands(config)
    return 0


def print_history(config: PipelineConfig) -> None:
    """The loop's rounds so far (what ``enformer-tfx history`` prints), oldest first."""
    from pipeline.history import format_rounds, open_store, read_rounds

    rounds = read_rounds(open_store(config.metadata_path), config.pipeline_name)
    if rounds:
        print(f"rounds so far ({len(rounds)}; `enformer-tfx history` shows them again):")
        print("\n".join(f"  {line}" for line in format_rounds(rounds).splitlines()))


def dataset_table_uri(config: PipelineConfig) -> Optional[str]:
    """Newest payload Examples artifact that keeps the ``make-dataset`` table (``dataset.tsv``)."""
    from components.records import DATASET_TABLE

    for artifact in sorted(_store(config).get_artifacts_by_type("Examples"), key=lambda a: a.id, reverse=True):
        if os.path.exists(os.path.join(artifact.uri, DATASET_TABLE)):
            return artifact.uri
    return None


def peak_track_flags(config: PipelineConfig) -> List[str]:
    """``predict`` flags for the peak columns when the configured species heads lack its default
    track (e.g. the demo's trunk, pretrained with one 3-track ``human`` head): the first head's
    track 0. Empty for the published head set."""
    heads = (config.model.overrides or {}).get("heads")
    head, track = PREDICT_PEAK_TRACK
    if not heads or int(heads.get(head, 0)) > track:
        return []
    return ["--head", str(next(iter(heads))), "--track", "0"]


def prediction_commands(config: PipelineConfig, examples_uri: Optional[str]) -> List[str]:
    """``enformer-tfx predict`` (on the examples artifact) and ``predict-regions`` (on the context locus)
    commands for the pushed model; outputs go to ``predictions/`` beside the push destination."""
    payloads = config.payloads
    destination = config.push.destination
    out = os.path.join(os.path.dirname(destination.rstrip("/")) or ".", "predictions")
    commands = []
    if examples_uri:
        commands.append(" ".join(["enformer-tfx predict", destination, examples_uri, "--sample", "4",
                                  *peak_track_flags(config), "--output", os.path.join(out, "payloads.tsv")]))
    commands.append(" ".join(["enformer-tfx predict-regions", destination, payloads.context, "--head", "finetune",
                              "--reference", payloads.reference_fasta, "--output", os.path.join(out, "context.npy")]))
    return commands


def print_prediction_commands(config: PipelineConfig) -> None:
    """Print the commands that predict with the pushed model (payload table, context locus)."""
    examples_uri = dataset_table_uri(config)
    print("predict with the pushed model (payload activity per window offset; activity along the context locus):")
    for command in prediction_commands(config, examples_uri):
        print(f"  {command}")
    if examples_uri is None:
        print("  (no examples artifact keeps the dataset table yet: run make-dataset for a table to pass to predict)")
def attribution_report_line(config: PipelineConfig) -> str:
    """Where the newest Interpreter report is (or why there is none)."""
    from components.interpret.params import ARTIFACT_TYPE

    report = latest_artifact(config, ARTIFACT_TYPE)
    path = report and os.path.join(report.uri, "summary.json")
    if report is None or not os.path.exists(path):
        return "attribution report: none yet"
    with open(path) as handle:
        summary = json.load(handle)
    if not summary.get("blessed"):
        return f"attribution report: none, the model is not blessed ({path})"
    names = ", ".join(payload["name"] for payload in summary["payloads"])
    return (f"attribution report ({summary['method']} of held-out {names}): {report.uri}/"
            f"attribution.bedgraph, attribution.npz, attribution.<payload>.png, summary.json")


def attribute_command(config: PipelineConfig, summary: Dict[str, Any], count: int = 3) -> str:
    """An ``enformer-tfx attribute`` command for the first held-out payloads of the evaluation report."""
    names: List[str] = []
    path = os.path.join(summary["uri"], "predictions.tsv")
    if os.path.exists(path):
        with open(path) as handle:
            header = handle.readline().rstrip("\n").split("\t")
            names = [line.rstrip("\n").split("\t")[header.index("name")] for line, _ in zip(handle, range(count))]
    payloads = config.payloads
    parts = ["enformer-tfx attribute", config.push.destination, "--payloads", payloads.payload_fasta]
    parts += ["--names", ",".join(names)] if names else []
    if payloads.annotation_bed:
        parts += ["--annotation", payloads.annotation_bed]
    parts += ["--reference", payloads.reference_fasta, "--context", payloads.context,
              "--length", str(payloads.construct_length)]
    parts += ["--motifs", "--min-seqlets", "2", "--output", os.path.join(os.path.dirname(config.push.destination.rstrip("/")) or ".", "attribution", "held_out")]
    return " ".join(parts)


def tfma_metrics(evaluation_uri: str) -> Dict[str, float]:
    """Overall-slice metric values of a TFMA evaluation (candidate model)."""
    from components.evaluation_report.executor import tfma_metric_values

    return tfma_metric_values(evaluation_uri)["candidate"]


def print_payload_summary(summary: Dict[str, Any]) -> None:
    """Held-out payload metrics and where the report is."""
    print(
        f"held-out payloads: n={summary['n']}  Pearson r={summary['pearson_r']:.3f}  "
        f"Spearman rho={summary['spearman_rho']:.3f}  MSE={summary['mse']:.4f}  "
        f"blessed={summary['blessed']}"
    )
    print(f"evaluation report: {summary['uri']}/scatter.png, predictions.tsv")


def print_track_summary(summary: Dict[str, Any]) -> None:
    """Held-out window metrics of a track model, per track, and where the report is."""
    per_track = "  ".join(f"{name} {r:.3f}" for name, r in summary["per_track_pearson_r"].items())
    print(f"held-out windows: n={summary['n_windows']}  mean track Pearson r={summary['mean_track_pearson_r']:.3f}  "
          f"blessed={summary['blessed']}")
    print(f"per-track Pearson r: {per_track}")
    print(f"evaluation report: {summary['uri']}/track_pearson_r.tsv, track_windows.png")
