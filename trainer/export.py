"""SavedModel export of a composite model (payload, tracks, or the Enformer species heads).

Signatures:

* ``serving_default(examples: tf.string [batch])`` -- serialized ``tf.Example`` records with the
  ``sequence`` feature (raw bytes of uint8 codes; payload and track records of
  :mod:`components.records` both carry it). Each sequence is cut to the
  model's input length at a fixed centred offset (``(len - input_length) // 2``; constructs are
  usually longer than the window), one-hot encoded in the graph and run through the model.
  Used by TFMA and serving.
* ``predict_one_hot(one_hot: float32 [batch, input_length, 4])`` -- batch prediction on
  already encoded windows.

Both return the same dictionary: ``activity [batch]`` for a :class:`PayloadModel`,
``tracks [batch, bins, n]`` for a :class:`TrackModel` or a :class:`SpeciesHeadModel` (a trained
trunk's species head), for a
:class:`~trainer.ensemble.PayloadEnsemble` ``activity`` (member mean), ``activity_sd`` and
``activity_members [batch, K]``, ``{head: [batch, bins, n]}`` for an
:class:`Enformer`; several models sharing one trunk can be exported together by passing a
``{output_name: model}`` mapping (payload -> ``activity``, tracks -> ``tracks``).
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Mapping, Union

import tensorflow as tf

from components import records
from trainer import encoding
from trainer.enformer import Enformer, check_length
from trainer.ensemble import PayloadEnsemble
from trainer.heads import PayloadModel, SpeciesHeadModel, TrackModel

SERVING_INPUT = "examples"
RAW_SIGNATURE = "predict_one_hot"
RAW_INPUT = "one_hot"
TARGET_VALUES = "target_values"
DECODE_TARGET_SIGNATURE = "decode_target"

# An ensemble's extra outputs: ``<name>_sd`` [batch] and ``<name>_members`` [batch, K].
SD_SUFFIX = "_sd"
MEMBERS_SUFFIX = "_members"

Exportable = Union[PayloadModel, TrackModel, SpeciesHeadModel, Enformer, PayloadEnsemble]


def _outputs_fn(models: Mapping[str, Exportable]) -> Callable[[tf.Tensor], Dict[str, tf.Tensor]]:
    """One function ``[B, L, 4] -> {name: tensor}`` over every exported model."""

    def predict(one_hot: tf.Tensor) -> Dict[str, tf.Tensor]:
        outputs: Dict[str, tf.Tensor] = {}
        for name, model in models.items():
            if isinstance(model, PayloadEnsemble):
                members = model(one_hot, is_training=False)
                outputs[name] = tf.reduce_mean(members, axis=-1)
                outputs[name + SD_SUFFIX] = tf.math.reduce_std(members, axis=-1)
                outputs[name + MEMBERS_SUFFIX] = members
            elif isinstance(model, PayloadModel):
                outputs[name] = tf.squeeze(model(one_hot, is_training=False), axis=-1)
            elif isinstance(model, (TrackModel, SpeciesHeadModel)):
                outputs[name] = model(one_hot, is_training=False)
            elif isinstance(model, Enformer):
                outputs.update(model(one_hot, is_training=False))
            else:
                raise TypeError(f"cannot export {type(model).__name__}: expected PayloadModel, TrackModel or Enformer")
        return outputs

    return predict


def _default_name(model: Exportable) -> str:
    if isinstance(model, (PayloadModel, PayloadEnsemble)):
        return "activity"
    return "tracks" if isinstance(model, (TrackModel, SpeciesHeadModel)) else "heads"


def export_saved_model(model: Union[Exportable, Mapping[str, Exportable]], export_dir: str, input_length: int,
                       metadata: Union[Dict[str, Any], None] = None) -> str:
    """Write a SavedModel with ``serving_default`` and ``predict_one_hot`` signatures.

    Args:
      model: a composite (``PayloadModel`` -> ``activity``, ``TrackModel`` -> ``tracks``,
        ``Enformer`` -> its heads) or ``{output_name: composite}`` sharing the input length.
      export_dir: destination (local or ``gs://``).
      input_length: window length in bp the model runs on (multiple of 128).
      metadata: extra JSON-able facts stored in ``assets.extra/enformer_tfx.json``.
    Returns:
      ``export_dir``.
    """
    models = dict(model) if isinstance(model, Mapping) else {_default_name(model): model}
    first = next(iter(models.values()))
    enformer = first if isinstance(first, Enformer) else first.enformer
    check_length(input_length, enformer.target_length)
    predict = _outputs_fn(models)

    root = tf.Module()
    # Track the variables as one flat list rather than the module tree: saving a Sonnet tree
    # makes TensorFlow evaluate every module property (variables, submodules, ...) of every
    # node while looking for functions, which is quadratic in the number of modules.
    seen = set()
    variables = []
    for item in models.values():
        for variable in item.variables if not isinstance(item, (PayloadModel, TrackModel)) else \
                tuple(item.enformer.variables) + tuple(item.variables):
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
    root.model_variables = variables

    @tf.function(input_signature=[tf.TensorSpec([None, input_length, 4], tf.float32, name=RAW_INPUT)], autograph=False)
    def predict_one_hot(one_hot: tf.Tensor) -> Dict[str, tf.Tensor]:
        return predict(one_hot)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)], autograph=False)
    def serve_examples(examples: tf.Tensor) -> Dict[str, tf.Tensor]:
        features = tf.io.parse_example(examples, records.sequence_spec())
        window = encoding.center_window_bytes(features[records.SEQUENCE], input_length)
        one_hot = encoding.one_hot_from_bytes(window)
        one_hot = tf.ensure_shape(one_hot, [None, input_length, 4])
        return predict_one_hot(one_hot)  # the traced model above, called rather than traced again

    signatures = {"serving_default": serve_examples.get_concrete_function(),
                  RAW_SIGNATURE: predict_one_hot.get_concrete_function()}
    track_models = [item for item in models.values() if isinstance(item, (TrackModel, SpeciesHeadModel))]
    if track_models:
        # TFMA reads labels from this "preprocessing function": the float16 target bytes of a
        # track example, decoded to the shape of the predictions.
        n_tracks = track_models[0].n_tracks

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)], autograph=False)
        def decode_targets(examples: tf.Tensor) -> Dict[str, tf.Tensor]:
            features = tf.io.parse_example(examples, {records.TARGET: records.track_feature_spec()[records.TARGET]})
            return {TARGET_VALUES: records.decode_target(features[records.TARGET], n_tracks)}

        signatures[DECODE_TARGET_SIGNATURE] = decode_targets.get_concrete_function()
    tf.saved_model.save(root, export_dir, signatures=signatures)

    info = {"input_length": input_length, "outputs": list(models), "signatures": list(signatures),
            "sequence_feature": records.SEQUENCE, "enformer": enformer.config.to_dict()}
    for name, item in models.items():
        if isinstance(item, (PayloadModel, PayloadEnsemble)):
            info[f"{name}_head"] = item.head_config
        if isinstance(item, PayloadEnsemble):
            info["outputs"] += [name + SD_SUFFIX, name + MEMBERS_SUFFIX]
        elif isinstance(item, (TrackModel, SpeciesHeadModel)):
            info[f"{name}_n_tracks"] = item.n_tracks
    info.update(metadata or {})
    metadata_path = os.path.join(export_dir, records.MODEL_METADATA)
    tf.io.gfile.makedirs(os.path.dirname(metadata_path))
    with tf.io.gfile.GFile(metadata_path, "w") as handle:
        json.dump(info, handle, indent=2, sort_keys=True)
    return export_dir


def read_metadata(export_dir: str) -> Dict[str, Any]:
    """The JSON written next to the SavedModel (input length, outputs, head configs)."""
    with tf.io.gfile.GFile(os.path.join(export_dir, records.MODEL_METADATA)) as handle:
        return json.load(handle)
