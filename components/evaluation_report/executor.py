"""Evaluator executor: TFMA (metrics, thresholds, blessing) plus a report for payload or track models.

TFMA computes the metrics and writes the blessing. Next to its output, in the same
``ModelEvaluation`` artifact, this executor adds what a lab looks at first. Payload models:

- ``predictions.tsv``: one row per held-out payload (``name group activity predicted``),
  from the candidate model's ``serving_default`` signature on the evaluation split (the same
  centred window TFMA scores);
- ``scatter.png``: predicted vs measured activity, titled with Pearson r and Spearman rho;
- ``summary.json``: the metric values and the blessing outcome.

Track models (:mod:`.track_report`): ``track_pearson_r.tsv`` (Pearson r per track),
``track_windows.png`` (predicted vs measured along a few held-out windows) and ``summary.json``.

It reads the model from the ``Format-Serving`` directory, like TFMA, and never imports trainer
code (components do not depend on the model package).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx.components.evaluator import executor as tfma_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components import records
from components.json_values import json_safe
from components.evaluation_report.report import predict_payloads, write_payload_report
from components.evaluation_report.track_report import predict_track_windows, write_track_report

LOG = logging.getLogger(__name__)


def _eval_files(examples: Any, splits: List[str]) -> List[str]:
    files: List[str] = []
    for split in splits:
        uri = artifact_utils.get_split_uri([examples], split)
        files.extend(sorted(tf.io.gfile.glob(os.path.join(uri, "*"))))
    return files


def tfma_metric_values(evaluation_uri: str) -> Dict[str, Dict[str, float]]:
    """Overall-slice TFMA metric values per model: ``{"candidate": {...}, "baseline": {...}}``
    (``baseline`` only when a baseline model was evaluated; diff keys are left out)."""
    import tensorflow_model_analysis as tfma

    values: Dict[str, Dict[str, float]] = {"candidate": {}}
    for record in tfma.load_metrics(evaluation_uri):
        if record.slice_key.single_slice_keys:
            continue
        for item in record.metric_keys_and_values:
            if item.key.is_diff or not item.value.HasField("double_value"):
                continue
            model = "baseline" if item.key.model_name.endswith("baseline") else "candidate"
            values.setdefault(model, {})[item.key.name] = item.value.double_value.value
    return values


METRICS_PROPERTY = "metrics"


def record_metrics(artifacts: List[Any], metrics: Dict[str, float], strings: Dict[str, str]) -> None:
    """Set each metric as a float custom property (queryable, but ML Metadata's SQLite store
    keeps 6 significant digits) and all of them, exact, as JSON in :data:`METRICS_PROPERTY`
    (NaN as null), plus the ``strings`` properties."""
    exact = json.dumps(json_safe({key: float(value) for key, value in metrics.items()}), sort_keys=True)
    for artifact in artifacts:
        for key, value in metrics.items():
            artifact.set_float_custom_property(key, float(value))
        artifact.set_string_custom_property(METRICS_PROPERTY, exact)
        for key, value in strings.items():
            artifact.set_string_custom_property(key, value)


def provenance(input_dict: Dict[str, List[Any]], metadata: Dict[str, Any]) -> Dict[str, str]:
    """What the model card and the history name: data spans and fingerprints, the model, its
    warm-start parent and the baseline it was compared with (strings; lists as JSON)."""
    examples = input_dict["examples"]
    spans = sorted({int(e.get_int_custom_property("span")) for e in examples if e.has_custom_property("span")})
    fingerprints = [e.get_string_custom_property("input_fingerprint") for e in examples
                    if e.has_custom_property("input_fingerprint")]
    baseline = input_dict.get("baseline_model") or []
    return {
        "spans": json.dumps(spans),
        "data_fingerprints": json.dumps(fingerprints),
        "examples_uri": json.dumps([e.uri for e in examples]),
        "model_uri": artifact_utils.get_single_instance(input_dict["model"]).uri,
        "warm_start": str(metadata.get("warm_start", "")),
        "baseline_model_uri": baseline[0].uri if baseline else "",
    }


class Executor(tfma_executor.Executor):
    """TFX Evaluator executor with the payload or track report added to the evaluation artifact.

    The metrics (TFMA's, candidate and ``baseline_*``; for payload models also the report's
    ``pearson_r``, ``spearman_rho``, ``mse``, ``n``; for track models ``pearson_r`` is the mean
    per-track r; see :func:`record_metrics`) and :func:`provenance` are recorded as custom
    properties of the ``ModelEvaluation`` and ``ModelBlessing`` artifacts, so ML Metadata alone
    tells the loop's history (``enformer-tfx history``) and the Pusher writes the model card.
    """

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]], exec_properties: Dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        evaluation_uri = artifact_utils.get_single_uri(output_dict["evaluation"])
        model = artifact_utils.get_single_instance(input_dict["model"])
        model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
        metadata_path = os.path.join(model_dir, records.MODEL_METADATA)
        metadata = json.loads(io_utils.read_string_file(metadata_path)) if tf.io.gfile.exists(metadata_path) else {}
        recorded = list(output_dict["evaluation"]) + list(output_dict.get("blessing") or [])
        tfma_values = tfma_metric_values(evaluation_uri)
        floats = dict(tfma_values["candidate"])
        floats.update({f"baseline_{name}": value for name, value in tfma_values.get("baseline", {}).items()})
        splits = json.loads(exec_properties.get("example_splits") or "null") or ["eval"]
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        files = _eval_files(examples, splits)
        blessing_uri = artifact_utils.get_single_uri(output_dict["blessing"]) if output_dict.get("blessing") else None
        blessed = None
        if blessing_uri:
            blessed = tf.io.gfile.exists(os.path.join(blessing_uri, "BLESSED"))
        if metadata.get("mode", "finetune") == "tracks":
            summary = write_track_report(predict_track_windows(model_dir, files), metadata.get("tracks", []),
                                         evaluation_uri, title=f"held-out windows ({', '.join(splits)})")
            LOG.info("evaluation: %d windows, mean track Pearson r %.3f (%s), blessed=%s", summary["n_windows"],
                     summary["mean_track_pearson_r"],
                     ", ".join(f"{name} {r:.3f}" for name, r in summary["per_track_pearson_r"].items()), blessed)
            floats["pearson_r"] = summary["mean_track_pearson_r"]
            floats["n_windows"] = summary["n_windows"]
        else:
            summary = write_payload_report(predict_payloads(model_dir, files), evaluation_uri,
                                           title=f"held-out payloads ({', '.join(splits)})")
            LOG.info(
                "evaluation: %d payloads, Pearson r %.3f, Spearman rho %.3f, MSE %.4f, blessed=%s",
                summary["n"], summary["pearson_r"], summary["spearman_rho"], summary["mse"], blessed,
            )
            floats.update({key: summary[key] for key in ("pearson_r", "spearman_rho", "mse", "n")})
        summary["blessed"] = blessed
        record_metrics(recorded, floats, provenance(input_dict, metadata))
        with tf.io.gfile.GFile(os.path.join(evaluation_uri, "summary.json"), "w") as handle:
            json.dump(summary, handle, indent=2)
