"""The exported SavedModel's one-hot signature, for components that run a trained model.

Components never import trainer code; they use the model contract instead: every export has
a ``predict_one_hot`` signature taking one-hot windows ``[B, W, 4]`` float32 (A,C,G,T) with a
fixed ``W`` and returning named outputs (``activity`` ``[B]`` for payload models, plus
``activity_sd``/``activity_members`` for an ensemble).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, FrozenSet

from components.errors import InputError

ONE_HOT_SIGNATURE = "predict_one_hot"


@dataclasses.dataclass(frozen=True)
class OneHotSignature:
    """A loaded ``predict_one_hot`` signature.

    Attributes:
      function: ``one_hot tf.Tensor [B, W, 4] -> {name: tf.Tensor}``; differentiable, usable
        inside ``tf.function``.
      window: ``W``, the model window in bp.
      outputs: names of the signature's outputs.
      loaded: the loaded SavedModel (the signature reads its variables: keep it referenced).
    """

    function: Callable[[Any], Dict[str, Any]]
    window: int
    outputs: FrozenSet[str]
    loaded: Any


def load_one_hot_signature(model_dir: str) -> OneHotSignature:
    """Load ``model_dir`` and wrap its ``predict_one_hot`` signature (see :class:`OneHotSignature`).

    Raises:
      InputError: the SavedModel has no such signature.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    if ONE_HOT_SIGNATURE not in loaded.signatures:
        raise InputError(f"SavedModel {model_dir} has no {ONE_HOT_SIGNATURE!r} signature")
    signature = loaded.signatures[ONE_HOT_SIGNATURE]
    (name, spec), = signature.structured_input_signature[1].items()

    def function(one_hot: Any) -> Dict[str, Any]:
        return signature(**{name: one_hot})

    function.keep_alive = loaded  # callers that keep only the function keep the variables too
    return OneHotSignature(function, int(spec.shape[1]), frozenset(signature.structured_outputs), loaded)
