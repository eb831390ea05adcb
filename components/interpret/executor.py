"""Interpreter executor: attribution of held-out payloads through the SavedModel's one-hot signature.

No trainer import: the model is whatever the Trainer exported (its ``predict_one_hot``
signature with an ``activity`` output); the work is :mod:`components.interpret.held_out`.
"""
from __future__ import annotations

import logging
import os
import tempfile
from typing import Any, Dict, List

import tensorflow as tf
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.after_evaluation import span_and_blessing
from components.errors import InputError
from components.interpret import attribution, held_out
from components.interpret.params import HELD_OUT_SPLIT, InterpretConfig
from components.payload_example_gen.params import fill_span
from components.serving_signature import load_one_hot_signature

LOG = logging.getLogger(__name__)


def options_from_properties(properties: Dict[str, Any]) -> InterpretConfig:
    """The step's settings from the component's execution properties (booleans travel as 0/1)."""
    seed = properties.get("seed")
    return InterpretConfig(
        payloads=int(properties["payloads"]), method=properties["method"],
        seed=None if seed is None else int(seed), reverse_complement=bool(int(properties["reverse_complement"])),
        batch_size=int(properties["batch_size"]), motifs=bool(int(properties["motifs"])),
        figures=bool(int(properties["figures"])))


class Executor(base_executor.BaseExecutor):
    """See :mod:`components.interpret.component`."""

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        report = artifact_utils.get_single_instance(output_dict["report"])
        span, blessed = span_and_blessing(input_dict)
        report.set_int_custom_property("span", span)
        summary: Dict[str, Any] = {"span": span, "blessed": blessed}
        if not summary["blessed"]:
            summary["reason"] = "the Evaluator did not bless this model; only blessed models are explained"
            LOG.info("Interpreter: the model is not blessed; no attribution report for span %d", span)
            held_out.write_summary(report.uri, summary)
            return
        props = exec_properties
        options = options_from_properties(props)
        model = artifact_utils.get_single_instance(input_dict["model"])
        model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
        signature = load_one_hot_signature(model_dir)
        if attribution.ACTIVITY not in signature.outputs:
            raise InputError(f"interpret: {model_dir} serves no {attribution.ACTIVITY!r} output (outputs: "
                             f"{', '.join(sorted(signature.outputs))}); the step explains payload models")
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        candidates = held_out.held_out_names(examples.uri, HELD_OUT_SPLIT)
        names = held_out.choose_payloads(candidates, options.payloads, options.seed)
        LOG.info("Interpreter: %s attribution of %d of %d held-out payloads (span %d): %s", options.method,
                 len(names), len(candidates), span, ", ".join(names))
        annotation_bed = props.get("annotation_bed")
        with tempfile.TemporaryDirectory() as scratch:
            summary.update(held_out.explain_payloads(
                signature.function, signature.window, names, fill_span(props["payload_fasta"], span, None),
                fill_span(annotation_bed, span, None) if annotation_bed else None, props["reference_fasta"],
                props["context"], int(props["construct_length"]), options, scratch))
            tf.io.gfile.makedirs(report.uri)
            for name in summary["files"]:
                tf.io.gfile.copy(os.path.join(scratch, name), os.path.join(report.uri, name), overwrite=True)
        summary.update(split=HELD_OUT_SPLIT, held_out=len(candidates),
                       selection=("first names in sorted order" if options.seed is None
                                  else f"seeded choice (seed {options.seed})"))
        held_out.write_summary(report.uri, summary)
