"""Pusher executor that ships the model card inside the pushed version.

The stock filesystem Pusher copies the model directory into ``<destination>/<version>/``,
``saved_model.pb`` last, so a server never sees half a model. To keep that guarantee with the
card, the directory handed to it is a staging copy (hard links where the filesystem allows,
else a copy) of the SavedModel plus ``model_card.json``/``model_card.md``: the card is in place
before ``saved_model.pb`` lands.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List

import tensorflow as tf
from tfx.components.pusher import executor as pusher_executor
from tfx.types import artifact_utils

from components import records
from components.model_card.card import build_card, write_card


def blessing_properties(blessing: Any) -> Dict[str, Any]:
    """Custom properties of a ModelBlessing artifact as plain Python values."""
    return {key: blessing.get_custom_property(key) for key in blessing.mlmd_artifact.custom_properties}


def stage_tree(source: str, target: str) -> None:
    """Mirror ``source`` into ``target``: hard links on a local filesystem, copies elsewhere."""
    for directory, _, files in tf.io.gfile.walk(source):
        destination = os.path.join(target, os.path.relpath(directory, source))
        tf.io.gfile.makedirs(destination)
        for name in files:
            origin, copy = os.path.join(directory, name), os.path.join(destination, name)
            try:
                os.link(origin, copy)
            except OSError:  # another device, or a remote filesystem
                tf.io.gfile.copy(origin, copy, overwrite=True)


class Executor(pusher_executor.Executor):
    """The TFX Pusher, pushing the SavedModel together with its model card."""

    def GetModelPath(self, input_dict: Dict[str, List[Any]]) -> str:
        model_dir = super().GetModelPath(input_dict)
        blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
        metadata_path = os.path.join(model_dir, records.MODEL_METADATA)
        metadata = {}
        if tf.io.gfile.exists(metadata_path):
            with tf.io.gfile.GFile(metadata_path) as handle:
                metadata = json.load(handle)
        staging = os.path.join(self._get_tmp_dir(), "model_with_card")
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
        stage_tree(model_dir, staging)
        date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write_card(staging, build_card(blessing_properties(blessing), metadata, date))
        return staging
