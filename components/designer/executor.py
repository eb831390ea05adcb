"""Designer executor: the design run through the pushed SavedModel's ``predict_one_hot`` signature.

No trainer import: the model is whatever the Trainer exported (``activity`` and, for an
ensemble, ``activity_members``); the metadata file beside it is not needed.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from typing import Any, Dict, List

import numpy as np
import tensorflow as tf
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.after_evaluation import span_and_blessing
from components.designer import design, scoring
from components.designer.candidates import parse_edits
from components.errors import InputError
from components.payload_example_gen.params import fill_span
from components.serving_signature import load_one_hot_signature

LOG = logging.getLogger(__name__)
ARTIFACT_PREFIX = "design"
SUMMARY_FILE = "summary.json"


def signature_predictor(model_dir: str):
    """``(predict(one_hot [B, W, 4]) -> {name: array}, W, output names)`` from the one-hot signature."""
    signature = load_one_hot_signature(model_dir)

    def predict(one_hot: np.ndarray) -> Dict[str, np.ndarray]:
        outputs = signature.function(tf.constant(one_hot, tf.float32))
        return {key: value.numpy() for key, value in outputs.items()}

    predict.keep_alive = signature.loaded  # the signature reads the loaded object's variables
    return predict, signature.window, set(signature.outputs)


def _copy_tree(local_prefix: str, destination_prefix: str) -> List[str]:
    written = []
    for suffix in design.OUTPUT_SUFFIXES:
        target = destination_prefix + suffix
        tf.io.gfile.makedirs(os.path.dirname(target) or ".")
        tf.io.gfile.copy(local_prefix + suffix, target, overwrite=True)
        written.append(target)
    return written


class Executor(base_executor.BaseExecutor):
    """See :mod:`components.designer.component`."""

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        proposals = artifact_utils.get_single_instance(output_dict["proposals"])
        span, blessed = span_and_blessing(input_dict)
        proposals.set_int_custom_property("span", span + 1)
        summary: Dict[str, Any] = {"span": span + 1, "blessed": blessed}
        if not summary["blessed"]:
            LOG.info("Designer: the model is not blessed; no proposals for span %d", span + 1)
            self._write_summary(proposals.uri, summary)
            return
        model = artifact_utils.get_single_instance(input_dict["model"])
        model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
        props = exec_properties
        options = design.DesignOptions(
            parents=tuple(p.strip() for p in props["parents"].split(",") if p.strip()) if props.get("parents") else None,
            edits=parse_edits(props["edits"]), max_edits=int(props["max_edits"]),
            candidates=int(props["candidates"]), batch_size=int(props["batch_size"]),
            acquisition=props["acquisition"], beta=float(props["beta"]), diversity=float(props["diversity"]),
            objective=props["objective"], seed=int(props["seed"]), construct_length=int(props["construct_length"]),
            shifts=int(props["shifts"]), reverse_complement=bool(int(props["reverse_complement"])),
            group=props["group"])
        predict, window, outputs = signature_predictor(model_dir)
        prepared = design.prepare(fill_span(props["payload_fasta"], span, None),
                                  fill_span(props["annotation_bed"], span, None),
                                  props["reference_fasta"], props["context"], options,
                                  score_fn=lambda one_hot: predict(one_hot)[scoring.ACTIVITY], window_length=window)
        if options.acquisition == "ucb" and scoring.MEMBERS not in outputs:
            raise InputError(f"design.acquisition ucb needs an ensemble model (model.ensemble: K); {model_dir} "
                             f"serves only {', '.join(sorted(outputs))}")
        mean, sd = scoring.score_sequences([c.sequence for c in prepared.candidates], predict, prepared.left_flank,
                                           prepared.right_flank, options.construct_length, window, options.shifts,
                                           options.reverse_complement, int(props["predict_batch"]))
        chosen = design.propose(prepared, mean, sd, options)
        with tempfile.TemporaryDirectory() as scratch:
            local = os.path.join(scratch, ARTIFACT_PREFIX)
            design.write_outputs(local, chosen, options.group)
            _copy_tree(local, os.path.join(proposals.uri, ARTIFACT_PREFIX))
            if props.get("output_location"):
                destination = fill_span(props["output_location"], span + 1, None)
                summary["output_location"] = _copy_tree(local, destination)
        summary.update(candidates=len(prepared.candidates), proposals=len(chosen), acquisition=options.acquisition,
                       objective=str(prepared.objective), best=chosen[0].candidate.name,
                       best_predicted=chosen[0].predicted, ensemble=sd is not None)
        self._write_summary(proposals.uri, summary)
        LOG.info("Designer: %d proposals for span %d from %d candidates (best %s, predicted %.4g)",
                 len(chosen), span + 1, len(prepared.candidates), chosen[0].candidate.name, chosen[0].predicted)

    @staticmethod
    def _write_summary(uri: str, summary: Dict[str, Any]) -> None:
        tf.io.gfile.makedirs(uri)
        with tf.io.gfile.GFile(os.path.join(uri, SUMMARY_FILE), "w") as handle:
            json.dump(summary, handle, indent=2, sort_keys=True)
