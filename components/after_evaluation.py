"""What the optional steps after the Evaluator (Designer, Interpreter) share.

Both take the Trainer's Model, the Evaluator's ModelBlessing and the Examples the model was
trained on, and act only on blessed models; the span comes from the Examples artifact, where
ExampleGen's driver records it as a custom property.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter

BLESSED_MODEL_INPUTS = {
    "model": ChannelParameter(type=standard_artifacts.Model),
    "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
    "examples": ChannelParameter(type=standard_artifacts.Examples),
}


def span_and_blessing(input_dict: Dict[str, List[Any]]) -> Tuple[int, bool]:
    """``(span of the Examples (0 without one), whether the model was blessed)``."""
    blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
    examples = artifact_utils.get_single_instance(input_dict["examples"])
    span = int(examples.get_int_custom_property("span")) if examples.has_custom_property("span") else 0
    return span, bool(tf.io.gfile.exists(os.path.join(blessing.uri, "BLESSED")))
