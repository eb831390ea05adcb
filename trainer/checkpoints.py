"""``--baseline`` resolution and strict weight loading.

``--baseline`` accepts:

* a directory (or checkpoint prefix) holding a Sonnet checkpoint written as
  ``tf.train.Checkpoint(module=<Enformer>)`` -- e.g. DeepMind's published weights
  (``gs://dm-enformer/models/enformer/sonnet_weights/``); default ``$ENFORMERBASELINE``.
  ``original`` is an alias for ``$ENFORMERBASELINE`` (the original project's name);
* ``tensorhub`` / ``tensorhub:<handle-or-dir>`` -- the TF Hub / Kaggle Enformer
  (default ``$ENFORMERTENSORHUB``) or a local SavedModel directory. That model takes
  393,216 bp and returns 896 bins; :class:`TensorHubEnformer` pads/crops to any window of at
  most 896 bins. It only exposes predictions (no trunk), so it cannot be fine-tuned;
* ``random`` -- explicit random initialisation (demos, tests).

Restores are strict: restore, call once (so lazily built variables exist), then
``assert_consumed()``. Any mismatch raises :class:`BaselineError` listing the keys that are
missing, unused or of a different shape -- never a silent partial restore.

Models from the original project (Zenodo 10.5281/zenodo.13363228) load too:
:func:`load_payload_model` (``Checkpoint(module=Enformer, finetune=[trunk, attention, Flatten,
Dense])``) and :func:`load_track_model` (``Checkpoint(head=Dense)``).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import tensorflow as tf

from components.genome import InputError, format_list
from trainer import enformer as enformer_lib
from trainer.enformer import DOWNSAMPLING, Enformer, EnformerConfig
from trainer.heads import PayloadModel, TrackModel

ENV_BASELINE = "ENFORMERBASELINE"
ENV_TENSORHUB = "ENFORMERTENSORHUB"
HUB_SEQUENCE_LENGTH = 393_216
HUB_OUTPUT_BINS = 896
# Keys that may stay unmatched when loading a model out of a training checkpoint.
_OPTIONAL_PREFIXES = ("save_counter", "optimizer", "step", "epoch")


class BaselineError(InputError):
    """The requested baseline/checkpoint cannot be loaded; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class BaselineSpec:
    """A resolved ``--baseline``: ``kind`` is ``checkpoint``, ``tensorhub`` or ``random``."""

    kind: str
    location: Optional[str] = None


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------
def _is_saved_model_dir(path: str) -> bool:
    return tf.io.gfile.isdir(path) and (tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))
                                        or tf.io.gfile.exists(os.path.join(path, "saved_model.pbtxt")))


def checkpoint_prefix(path: str) -> Optional[str]:
    """Checkpoint prefix for a directory (``checkpoint`` file or single ``*.index``) or prefix."""
    if tf.io.gfile.exists(path + ".index"):
        return path
    if not tf.io.gfile.isdir(path):
        return None
    latest = tf.train.latest_checkpoint(path)
    if latest:
        return latest
    indexes = sorted(tf.io.gfile.glob(os.path.join(path, "*.index")))
    if len(indexes) == 1:
        return indexes[0][: -len(".index")]
    if len(indexes) > 1:  # several checkpoints and no state file: take the highest step number
        def step(name: str) -> int:
            match = re.search(r"-(\d+)\.index$", name)
            return int(match.group(1)) if match else -1
        return max(indexes, key=step)[: -len(".index")]
    return None


def resolve_baseline(spec: Optional[str] = None) -> BaselineSpec:
    """Turn a ``--baseline`` value (or None: ``$ENFORMERBASELINE``) into a :class:`BaselineSpec`."""
    if spec is None or spec == "" or spec == "original":
        env = os.environ.get(ENV_BASELINE)
        if not env:
            raise BaselineError(
                f"no baseline given and ${ENV_BASELINE} is not set: pass --baseline <checkpoint dir> "
                "(e.g. a copy of gs://dm-enformer/models/enformer/sonnet_weights/), --baseline tensorhub, "
                f"or --baseline random, or set {ENV_BASELINE}")
        spec = env
    if spec == "random":
        return BaselineSpec("random")
    if spec == "tensorhub" or spec.startswith("tensorhub:"):
        location = spec.split(":", 1)[1] if ":" in spec else os.environ.get(ENV_TENSORHUB)
        if not location:
            raise BaselineError(
                f"--baseline tensorhub needs ${ENV_TENSORHUB} (a TF Hub/Kaggle handle or a SavedModel "
                "directory) or the form tensorhub:<handle-or-dir>")
        return BaselineSpec("tensorhub", location)
    if _is_saved_model_dir(spec):
        return BaselineSpec("tensorhub", spec)
    prefix = checkpoint_prefix(spec)
    if prefix is None and tf.io.gfile.isdir(spec + "-checkpoint"):  # original project's old layout
        prefix = checkpoint_prefix(spec + "-checkpoint")
    if prefix is None:
        what = "directory without a checkpoint" if tf.io.gfile.isdir(spec) else "path not found"
        raise BaselineError(
            f"--baseline {spec!r}: {what}. Expected a directory with a TensorFlow checkpoint "
            "(checkpoint + *.index + *.data-*), a checkpoint prefix, a SavedModel directory, "
            "'tensorhub[:<handle-or-dir>]' or 'random'")
    return BaselineSpec("checkpoint", prefix)


# --------------------------------------------------------------------------------------------
# Strict restore with a readable diff
# --------------------------------------------------------------------------------------------
def checkpoint_keys(prefix: str) -> Dict[str, List[int]]:
    return {key.replace("/.ATTRIBUTES/VARIABLE_VALUE", ""): shape
            for key, shape in tf.train.list_variables(prefix) if key != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def _expected_keys(objects: Dict[str, Any]) -> Dict[str, List[int]]:
    """Keys/shapes the Python objects would write (written to a temporary directory).

    Only runs on the error path, so the cost of writing the model once does not matter.
    """
    with tempfile.TemporaryDirectory(prefix="expected-ckpt-") as tmp:
        written = tf.train.Checkpoint(**objects).write(os.path.join(tmp, "ckpt"))
        return checkpoint_keys(written)


def checkpoint_diff(prefix: str, objects: Dict[str, Any]) -> Dict[str, List[str]]:
    """Compare a checkpoint with the objects to restore: ``missing``, ``unused``, ``shape``."""
    found = checkpoint_keys(prefix)
    expected = _expected_keys(objects)
    optional = lambda key: key.startswith(_OPTIONAL_PREFIXES)  # noqa: E731
    return {
        "missing": sorted(k for k in expected if k not in found and not optional(k)),
        "unused": sorted(k for k in found if k not in expected and not optional(k)),
        "shape": sorted(f"{k}: checkpoint {found[k]} vs model {expected[k]}"
                        for k in expected if k in found and list(found[k]) != list(expected[k])),
    }


def _format_diff(what: str, prefix: str, diff: Dict[str, List[str]], hint: str = "") -> str:
    lines = [f"{what}: checkpoint {prefix} does not match the model"]
    labels = {"shape": "different shape", "missing": "missing from the checkpoint",
              "unused": "in the checkpoint but not in the model"}
    for kind in ("shape", "missing", "unused"):
        items = diff[kind]
        if items:
            lines.append(f"  {labels[kind]} ({len(items)}):")
            lines.extend(f"    {item}" for item in items[:12])
            if len(items) > 12:
                lines.append(f"    ... ({len(items) - 12} more)")
    if hint:
        lines.append(hint)
    return "\n".join(lines)


def strict_restore(objects: Dict[str, Any], prefix: str, build: Optional[Callable[[], Any]] = None,
                   what: str = "checkpoint", hint: str = "") -> None:
    """Restore ``tf.train.Checkpoint(**objects)`` from ``prefix``; every model value must match.

    ``build`` runs after ``restore`` (creating lazily built variables, which then receive
    their values) and before ``assert_consumed``. Optimizer/step entries may stay unused.

    Raises:
      BaselineError: listing keys of different shape, missing from the checkpoint, or unused.
    """
    checkpoint = tf.train.Checkpoint(**objects)
    status = None
    try:
        status = checkpoint.restore(prefix)
        if build is not None:
            build()
        status.assert_consumed()
        return
    except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
        detail = error
    diff = checkpoint_diff(prefix, objects)
    if not any(diff.values()) and status is not None:  # only optional entries were unused
        status.expect_partial()
        return
    if not any(diff.values()):
        raise BaselineError(f"{what}: cannot restore {prefix}: {detail}") from detail
    raise BaselineError(_format_diff(what, prefix, diff, hint)) from detail


# --------------------------------------------------------------------------------------------
# Config inference from checkpoint shapes
# --------------------------------------------------------------------------------------------
def config_from_checkpoint(prefix: str, root: str = "module") -> EnformerConfig:
    """Recover the :class:`EnformerConfig` that wrote ``prefix`` from its variable shapes."""
    shapes = checkpoint_keys(prefix)
    trunk = f"{root}/_trunk/_layers"
    stem = shapes.get(f"{trunk}/0/_layers/0/w")
    if stem is None:
        raise BaselineError(f"{prefix}: no Enformer under '{root}/' (found e.g. {format_list(sorted(shapes))})")
    channels = 2 * stem[-1]
    layers = {int(m.group(1)) for k in shapes for m in [re.match(rf"{trunk}/2/_layers/(\d+)/", k)] if m}
    bias = next(v for k, v in shapes.items() if k.endswith("_r_w_bias"))
    heads = {m.group(1): v[-1] for k, v in shapes.items()
             for m in [re.match(rf"{root}/_heads/([^/]+)/_layers/0/b$", k)] if m}
    tower = [shapes[f"{trunk}/1/_layers/{i}/_layers/0/_layers/2/w"][-1] for i in range(6)]
    divisible = next((d for d in (128, 64, 32, 16, 8, 4, 2, 1)
                      if enformer_lib.exponential_linspace_int(channels // 2, channels, 6, d) == tower), None)
    if divisible is None:
        raise BaselineError(f"{prefix}: conv tower widths {tower} do not follow the Enformer schedule")
    pooling = "attention" if f"{trunk}/0/_layers/2/_logit_linear/w" in shapes else "max"
    return EnformerConfig(channels=channels, num_transformer_layers=len(layers), num_heads=bias[1],
                          pooling_type=pooling, heads=heads, key_size=bias[-1], filters_divisible_by=divisible)


# --------------------------------------------------------------------------------------------
# Enformer baselines
# --------------------------------------------------------------------------------------------
class TensorHubEnformer:
    """The TF Hub / Kaggle Enformer behind the :class:`Enformer` prediction interface.

    The hub model only accepts ``[B, 393216, 4]`` and returns the central 896 bins. Inputs of
    ``L`` bp (multiple of 128, at most 896 bins) are zero-padded (N) to 393,216 bp with the
    window on the bin grid, and the matching ``L / 128`` output bins are cut out. Context
    outside the window is N, so predictions differ from full-context ones near the edges.
    """

    def __init__(self, loaded: Any, source: str):
        model = getattr(loaded, "model", loaded)
        if not hasattr(model, "predict_on_batch"):
            raise BaselineError(f"{source}: SavedModel has no model.predict_on_batch (not the Enformer hub model)")
        self._predict = model.predict_on_batch
        self._loaded = loaded  # keep variables alive
        self.source = source

    @property
    def target_length(self) -> int:
        return HUB_OUTPUT_BINS

    def output_bins(self, length: int) -> int:
        enformer_lib.check_length(length)
        if length // DOWNSAMPLING > HUB_OUTPUT_BINS:
            raise enformer_lib.SequenceLengthError(
                f"the TF Hub Enformer predicts at most {HUB_OUTPUT_BINS} bins ({HUB_OUTPUT_BINS * DOWNSAMPLING} bp); "
                f"got {length} bp: split the region into windows")
        return length // DOWNSAMPLING

    def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> Dict[str, tf.Tensor]:
        """``[B, L, 4]`` -> ``{'human': [B, L/128, 5313], 'mouse': [B, L/128, 1643]}``."""
        if is_training:
            raise BaselineError("the TF Hub Enformer is inference only; fine-tune from Sonnet weights instead")
        inputs = tf.convert_to_tensor(inputs, tf.float32)
        length = inputs.shape[1]
        bins = self.output_bins(length)
        total_bins = HUB_SEQUENCE_LENGTH // DOWNSAMPLING
        left_bins = (total_bins - bins) // 2
        left = left_bins * DOWNSAMPLING
        padded = tf.pad(inputs, [[0, 0], [left, HUB_SEQUENCE_LENGTH - length - left], [0, 0]])
        outputs = self._predict(padded)
        start = left_bins - (total_bins - HUB_OUTPUT_BINS) // 2
        return {name: value[:, start:start + bins] for name, value in outputs.items()}

    def trunk(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
        raise BaselineError(
            "the TF Hub Enformer exposes only predict_on_batch (species heads), not the trunk embedding: "
            "fine-tuning and new track heads need Sonnet weights (--baseline <checkpoint dir>)")


def load_tensorhub(handle: str) -> TensorHubEnformer:
    """Load the hub Enformer from a local SavedModel directory or a TF Hub/Kaggle handle."""
    if _is_saved_model_dir(handle):
        return TensorHubEnformer(tf.saved_model.load(handle), handle)
    if "://" not in handle and (os.path.isabs(handle) or handle.startswith(".")):
        raise BaselineError(f"tensorhub {handle!r}: directory not found or holds no saved_model.pb")
    advice = ("download the model once (Kaggle: deepmind/enformer, TensorFlow2 variant 'enformer', "
              "version 1 -> a .tar.gz), extract it and pass the directory: --baseline tensorhub:/path/to/dir "
              f"(or set {ENV_TENSORHUB} to that directory)")
    try:
        import tensorflow_hub as hub  # noqa: F401  - lazily: it does not import on this stack
    except Exception as error:  # ImportError: tf.compat.v1.estimator was removed in TF 2.16
        raise BaselineError(
            f"cannot fetch TF Hub handle {handle!r}: tensorflow_hub does not import with TensorFlow "
            f"{tf.__version__} ({type(error).__name__}: {error}). {advice}") from error
    try:
        loaded = hub.load(handle)
    except Exception as error:
        raise BaselineError(f"cannot fetch TF Hub handle {handle!r} ({type(error).__name__}: {error}). {advice}") from error
    return TensorHubEnformer(loaded, handle)


def restore_enformer(model: Enformer, prefix: str) -> Enformer:
    """Strictly restore ``tf.train.Checkpoint(module=model)`` from ``prefix``."""
    hint = ""
    try:
        found = config_from_checkpoint(prefix)
        if found.to_dict() != model.config.replace(target_length=None).to_dict():
            hint = f"  the checkpoint was written by an Enformer with {found.to_dict()}"
    except (BaselineError, KeyError, StopIteration):
        pass
    strict_restore({"module": model}, prefix, build=None, what="Enformer baseline", hint=hint)
    return model


def load_enformer(baseline: Optional[str] = None, config: Union[str, EnformerConfig, None] = "full",
                  **model_kwargs: Any) -> Union[Enformer, TensorHubEnformer]:
    """Model for a ``--baseline`` value (see module docstring).

    ``config``: preset name or :class:`EnformerConfig` for ``checkpoint``/``random``
    (``'auto'`` reads it from the checkpoint shapes); ``model_kwargs``: config overrides such as
    ``target_length`` and ``jit_compile`` / ``compute_dtype``.
    """
    spec = resolve_baseline(baseline)
    if spec.kind == "tensorhub":
        return load_tensorhub(spec.location)
    if config == "auto":
        if spec.kind != "checkpoint":
            raise BaselineError("config='auto' needs a checkpoint baseline")
        config = config_from_checkpoint(spec.location)
    model = enformer_lib.build_enformer(config, **model_kwargs)
    if spec.kind == "checkpoint":
        restore_enformer(model, spec.location)
    return model


# --------------------------------------------------------------------------------------------
# Original-project (Zenodo) fine-tuned payload models and track heads
# --------------------------------------------------------------------------------------------
def _model_definition(path: str) -> Dict[str, Any]:
    """The original project's ``<model>.json`` (key_size/value_size/num_heads/baseline), if any."""
    for candidate in (path.rstrip("/") + ".json", os.path.join(path, "model.json")):
        if tf.io.gfile.exists(candidate):
            with tf.io.gfile.GFile(candidate) as handle:
                return json.load(handle)
    return {}


def load_payload_model(path: str, key_size: Optional[int] = None, value_size: Optional[int] = None,
                       num_heads: Optional[int] = None, config: Union[str, EnformerConfig, None] = "auto",
                       input_length: Optional[int] = None, **model_kwargs: Any) -> PayloadModel:
    """Load a fine-tuned payload model (ours or the original project's).

    Format: ``tf.train.Checkpoint(module=<Enformer>, finetune=<[trunk, attention, pool, dense]>)``.
    Head sizes come from the arguments, else ``<path>.json`` (original ``modeldef``), else the
    kernel shapes with ``key_size=64`` (all published heads). The pooling and, for the original
    ``flatten`` head, the input length follow from the dense kernel's shape.
    """
    spec = resolve_baseline(path)
    if spec.kind != "checkpoint":
        raise BaselineError(f"{path}: a fine-tuned payload model must be a checkpoint directory")
    prefix = spec.location
    shapes = checkpoint_keys(prefix)
    q_shape = shapes.get("finetune/_layers/1/_q/kernel")
    v_shape = shapes.get("finetune/_layers/1/_v/kernel")
    dense_shape = shapes.get("finetune/_layers/3/kernel")
    if q_shape is None or v_shape is None or dense_shape is None:
        raise BaselineError(
            f"{prefix}: not a fine-tuned payload checkpoint (expected finetune/_layers/1/_q/kernel and "
            f"finetune/_layers/3/kernel; found {format_list(sorted(shapes))})")
    definition = _model_definition(path)
    key_size = key_size or definition.get("key_size") or 64
    num_heads = num_heads or definition.get("num_heads") or max(1, q_shape[-1] // key_size)
    value_size = value_size or definition.get("value_size") or v_shape[-1] // num_heads
    if key_size * num_heads != q_shape[-1] or value_size * num_heads != v_shape[-1]:
        raise BaselineError(
            f"{prefix}: head size mismatch: checkpoint projections are q {q_shape}, v {v_shape}, which do not fit "
            f"key_size={key_size}, value_size={value_size}, num_heads={num_heads}")
    width = value_size * num_heads
    if dense_shape[0] == width:
        pooling, bins = "mean", None
    elif dense_shape[0] % width == 0:
        pooling, bins = "flatten", dense_shape[0] // width
    else:
        raise BaselineError(f"{prefix}: dense kernel {dense_shape} does not fit attention output width {width}")
    if config == "auto":
        config = config_from_checkpoint(prefix)
    model = enformer_lib.build_enformer(config, **model_kwargs)
    target = model.target_length
    if bins is not None:
        input_length = input_length or (target or bins) * DOWNSAMPLING
        if model.output_bins(input_length) != bins:
            raise BaselineError(
                f"{prefix}: the payload head (original flatten layout) was trained on {bins} bins "
                f"({bins * DOWNSAMPLING} bp); input_length={input_length} bp gives {model.output_bins(input_length)}")
    else:
        input_length = input_length or (target or 1) * DOWNSAMPLING
    payload = PayloadModel(model, key_size, value_size, num_heads, pooling=pooling)
    build = lambda: payload.build(input_length)  # noqa: E731
    strict_restore({"module": model, "finetune": payload}, prefix, build=build, what="fine-tuned payload model")
    return payload


def load_track_model(path: str, enformer: Enformer, n_tracks: Optional[int] = None) -> TrackModel:
    """Attach a trained track head (``tf.train.Checkpoint(head=Dense(n, softplus))``) to ``enformer``.

    ``n_tracks`` (e.g. rows of tracks.tsv) is checked against the checkpoint when given.
    """
    spec = resolve_baseline(path)
    if spec.kind != "checkpoint":
        raise BaselineError(f"{path}: a track head must be a checkpoint directory")
    shapes = checkpoint_keys(spec.location)
    kernel = shapes.get("head/kernel")
    if kernel is None:
        raise BaselineError(f"{spec.location}: no track head (expected head/kernel; found {format_list(sorted(shapes))})")
    if n_tracks is not None and kernel[-1] != n_tracks:
        raise BaselineError(
            f"{spec.location}: head size mismatch: the checkpoint head predicts {kernel[-1]} tracks, "
            f"expected {n_tracks}")
    if kernel[0] != enformer.embedding_size:
        raise BaselineError(
            f"{spec.location}: head size mismatch: the head reads {kernel[0]} trunk features, this Enformer "
            f"produces {enformer.embedding_size} (channels={enformer.config.channels})")
    model = TrackModel(enformer, kernel[-1])
    strict_restore({"head": model.head}, spec.location, what="track head")
    return model


def random_baseline(config: Union[str, EnformerConfig, None] = "tiny", **model_kwargs: Any) -> Enformer:
    """Explicitly random-initialised Enformer (``--baseline random``)."""
    return enformer_lib.build_enformer(config, **model_kwargs)
