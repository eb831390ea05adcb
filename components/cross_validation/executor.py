"""CrossValidation executor: fold ``i``'s payloads predicted by fold model ``i``, pooled into one report.

No trainer import: each fold model is read from its ``Format-Serving`` SavedModel and run through
``serving_default`` (the centred window, as the Evaluator scores it).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.cross_validation import model_key
from components.cross_validation.report import summary_line, write_cross_validation_report
from components.errors import InputError
from components.evaluation_report.executor import record_metrics
from components.evaluation_report.report import predict_payloads
from components.payload_example_gen.params import KFOLD_PREFIX

LOG = logging.getLogger(__name__)

# Summary numbers recorded as float custom properties of the report artifact.
RECORDED_METRICS = ("pearson_r", "spearman_rho", "mse", "n", "num_kfolds", "fold_pearson_r_mean",
                    "fold_pearson_r_sd", "fold_spearman_rho_mean", "fold_spearman_rho_sd")


def fold_files(examples: Any, fold: int) -> List[str]:
    """Shards of split ``fold<fold>`` of a k-fold Examples artifact."""
    split = f"{KFOLD_PREFIX}{fold}"
    try:
        uri = artifact_utils.get_split_uri([examples], split)
    except ValueError:
        raise InputError(f"cross-validation: Examples {examples.uri} have no split {split!r} (splits: "
                         f"{examples.split_names})") from None
    files = sorted(tf.io.gfile.glob(os.path.join(uri, "*")))
    if not files:
        raise InputError(f"cross-validation: {uri} holds no records")
    return files


class Executor(base_executor.BaseExecutor):
    """See :mod:`components.cross_validation.component`."""

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        num_kfolds = int(exec_properties["num_kfolds"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        tables, model_uris = [], []
        for fold in range(num_kfolds):
            model = artifact_utils.get_single_instance(input_dict[model_key(fold)])
            model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
            tables.append((f"{KFOLD_PREFIX}{fold}", predict_payloads(model_dir, fold_files(examples, fold))))
            model_uris.append(model.uri)
            LOG.info("cross-validation: %s, %d payloads predicted by its fold model", tables[-1][0],
                     len(tables[-1][1]["name"]))
        report = artifact_utils.get_single_instance(output_dict["report"])
        span = int(examples.get_int_custom_property("span")) if examples.has_custom_property("span") else 0
        summary = write_cross_validation_report(tables, report.uri, {"span": span, "examples_uri": examples.uri,
                                                                     "fold_models": model_uris})
        LOG.info("cross-validation: %s", summary_line(summary))
        report.set_int_custom_property("span", span)
        record_metrics([report], {key: float(summary[key]) for key in RECORDED_METRICS},
                       {"fold_models": json.dumps(model_uris), "examples_uri": examples.uri})
