"""Every model source, resolved in one place: what it is, where its weights are, how to load it.

:func:`resolve_model` turns a model argument (``--baseline``, the prediction commands' ``MODEL``
and ``--head``) into a typed :class:`ModelSource` (a :class:`SourceKind` plus paths):

==========================  ====================================================================
kind                        accepted as
==========================  ====================================================================
``ENFORMER``                a Sonnet checkpoint ``tf.train.Checkpoint(module=<Enformer>)``
                            (directory, prefix or the old ``<name>-checkpoint`` directory), e.g.
                            DeepMind's published ``sonnet_weights``; ``original`` / no value =
                            ``$ENFORMERBASELINE``
``TENSORHUB``               ``tensorhub`` (``$ENFORMERTENSORHUB``), ``tensorhub:<handle-or-dir>``,
                            or a SavedModel directory that is not one of our exports
``PAYLOAD``                 a fine-tuned payload model ``Checkpoint(module=Enformer,
                            finetune=[trunk, attention, pool, dense])``: the original project's
                            Zenodo models (10.5281/zenodo.13363228) and our exports' weights
``TRACK_HEAD``              a track head ``Checkpoint(head=Dense(n, softplus))`` (Zenodo or ours)
``TRAINING_PAYLOAD``        a Trainer checkpoint (``<work_dir>/checkpoints``) of a payload model
``TRAINING_TRACK_HEAD``     a Trainer checkpoint of a track head
``EXPORT``                  our SavedModel (``assets.extra/enformer_tfx.json``): an export
                            directory, a Trainer model artifact (``<model>/Format-Serving``) or a
                            Pusher directory of numbered versions (the highest is used)
``RANDOM``                  ``random[:preset]``: random weights, only because the name asks
==========================  ====================================================================

The checkpoint kind is read off the variable keys (named constants below), never guessed
from file names. Loading is strict: restore, call once (so lazily built variables exist),
then ``assert_consumed()``. Any mismatch raises :class:`ModelSourceError` listing the keys that
are missing, unused or of a different shape -- never a silent partial restore and never a
random fallback.

Writing uses the same keys: :func:`original_checkpoint` (the original project's format, stored
in every export's ``assets.extra/weights/``) and :func:`training_checkpoint` (resumable
Trainer state).
"""
from __future__ import annotations

import dataclasses
import enum
import json
import logging
import os
import re
import tempfile
from typing import Any, Callable, Dict, List, Optional, Union

import sonnet as snt
import tensorflow as tf

from components import records
from components.errors import InputError
from components.genome import format_list
from trainer import enformer as enformer_lib
from trainer.enformer import DOWNSAMPLING, Enformer, EnformerConfig
from trainer.heads import HeadOnly, PayloadModel, TrackModel

LOG = logging.getLogger(__name__)

ENV_BASELINE = "ENFORMERBASELINE"
ENV_TENSORHUB = "ENFORMERTENSORHUB"
HUB_SEQUENCE_LENGTH = 393_216
HUB_OUTPUT_BINS = 896
DEFAULT_RANDOM_PRESET = "tiny"
SERVING_SUBDIR = "Format-Serving"

# --------------------------------------------------------------------------------------------
# Checkpoint keys: ``tf.train.Checkpoint(**{root: object})`` names every key ``<root>/...``.
# --------------------------------------------------------------------------------------------
ENFORMER_ROOT = "module"       # the Enformer: trunk + species heads (published weights)
PAYLOAD_ROOT = "finetune"      # original payload model, ``_layers = [trunk, attention, pool, dense]``
TRACK_HEAD_ROOT = "head"       # original track head, ``Dense(n_tracks, softplus)``
TRAINING_MODEL_ROOT = "model"  # Trainer checkpoints: the module being fit ...
TRAINING_OPTIMIZER_ROOT = "optimizer"  # ... its optimiser state ...
TRAINING_EPOCH_ROOT = "epoch"  # ... and the completed-epoch counter
TRAINING_CHECKPOINT_DIR = "checkpoints"  # under the Trainer's work directory
ENFORMER_TRUNK = f"{ENFORMER_ROOT}/_trunk/"
TRACK_HEAD_KERNEL = f"{TRACK_HEAD_ROOT}/kernel"
# The Trainer fits a track head as ``heads.HeadOnly``, whose ``head`` attribute is the Dense layer.
TRAINING_TRACK_HEAD_KERNEL = f"{TRAINING_MODEL_ROOT}/head/kernel"
# Entries that may stay unmatched when loading a model out of a training checkpoint.
_OPTIONAL_ROOTS = ("save_counter", TRAINING_OPTIMIZER_ROOT, "step", TRAINING_EPOCH_ROOT)


@dataclasses.dataclass(frozen=True)
class PayloadKeys:
    """Keys of a :class:`PayloadModel` saved under ``root`` (attention = ``_layers/1``, dense = ``_layers/3``)."""

    root: str

    @property
    def query(self) -> str:
        """Attention query kernel ``[2C, key_size * num_heads]``."""
        return f"{self.root}/_layers/1/_q/kernel"

    @property
    def value(self) -> str:
        """Attention value kernel ``[2C, value_size * num_heads]``."""
        return f"{self.root}/_layers/1/_v/kernel"

    @property
    def dense(self) -> str:
        """Output kernel ``[value_size * num_heads (* bins for flatten), 1]``."""
        return f"{self.root}/_layers/3/kernel"


ORIGINAL_PAYLOAD_KEYS = PayloadKeys(PAYLOAD_ROOT)
TRAINING_PAYLOAD_KEYS = PayloadKeys(TRAINING_MODEL_ROOT)


class ModelSourceError(InputError):
    """The model source cannot be resolved or loaded; the message says why and what to do."""


class SourceKind(enum.Enum):
    """What a model argument names (see the module docstring)."""

    RANDOM = "random"
    TENSORHUB = "tensorhub"
    ENFORMER = "enformer"
    PAYLOAD = "payload"
    TRACK_HEAD = "track_head"
    TRAINING_PAYLOAD = "training_payload"
    TRAINING_TRACK_HEAD = "training_track_head"
    EXPORT = "export"


PAYLOAD_KINDS = (SourceKind.PAYLOAD, SourceKind.TRAINING_PAYLOAD)
TRACK_HEAD_KINDS = (SourceKind.TRACK_HEAD, SourceKind.TRAINING_TRACK_HEAD)
_DESCRIPTIONS = {
    SourceKind.RANDOM: "random Enformer", SourceKind.TENSORHUB: "TF Hub Enformer",
    SourceKind.ENFORMER: "Enformer checkpoint", SourceKind.PAYLOAD: "fine-tuned payload model",
    SourceKind.TRACK_HEAD: "track head", SourceKind.TRAINING_PAYLOAD: "training checkpoint (payload model)",
    SourceKind.TRAINING_TRACK_HEAD: "training checkpoint (track head)", SourceKind.EXPORT: "SavedModel",
}


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """A resolved model argument.

    Attributes:
      kind: what it is.
      location: checkpoint prefix (checkpoint kinds), SavedModel directory (``EXPORT``), handle
        or directory (``TENSORHUB``), preset name or None (``RANDOM``).
      given: the path as named (after ``original`` -> ``$ENFORMERBASELINE``); the original
        project's ``<given>.json`` model definition sits beside it.
      weights: ``EXPORT`` only: prefix of the original-format checkpoint in ``assets.extra/weights/``.
    """

    kind: SourceKind
    location: Optional[str] = None
    given: Optional[str] = None
    weights: Optional[str] = None

    @property
    def description(self) -> str:
        """Human-readable, e.g. ``fine-tuned payload model /models/SingleHead/ckpt-1``."""
        if self.kind is SourceKind.RANDOM:
            return f"{_DESCRIPTIONS[self.kind]} ({self.location or DEFAULT_RANDOM_PRESET})"
        return f"{_DESCRIPTIONS[self.kind]} {self.location}"


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------
_SOURCES_HELP = ("a directory with a TensorFlow checkpoint (checkpoint + *.index + *.data-*), a checkpoint prefix, "
                 "an exported SavedModel, a Trainer model artifact or Pusher directory, a SavedModel directory, "
                 f"'original' (${ENV_BASELINE}), 'tensorhub[:<handle-or-dir>]' or 'random[:preset]'")


def has_saved_model(path: str) -> bool:
    """``path`` is a SavedModel directory."""
    return tf.io.gfile.isdir(path) and (tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))
                                        or tf.io.gfile.exists(os.path.join(path, "saved_model.pbtxt")))


def _is_export(path: str) -> bool:
    """One of our exports: a SavedModel with the metadata file."""
    return has_saved_model(path) and tf.io.gfile.exists(os.path.join(path, records.MODEL_METADATA))


def weights_dir(serving_dir: str) -> str:
    """Where the original-format checkpoint lives inside an exported model."""
    return os.path.join(serving_dir, records.MODEL_WEIGHTS)


def latest_version(path: str) -> Optional[str]:
    """Pusher layout ``<dir>/<number>/saved_model.pb``: the highest numbered version."""
    if not tf.io.gfile.isdir(path):
        return None
    versions = [name.rstrip("/") for name in tf.io.gfile.listdir(path) if re.fullmatch(r"\d+/?", name)]
    versions = [v for v in versions if has_saved_model(os.path.join(path, v))]
    return os.path.join(path, max(versions, key=int)) if versions else None


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


def checkpoint_keys(prefix: str) -> Dict[str, List[int]]:
    """``{key: shape}`` of a checkpoint's variables (keys without ``/.ATTRIBUTES/VARIABLE_VALUE``)."""
    return {key.replace("/.ATTRIBUTES/VARIABLE_VALUE", ""): shape
            for key, shape in tf.train.list_variables(prefix) if key != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def checkpoint_kind(prefix: str, keys: Optional[Dict[str, List[int]]] = None) -> SourceKind:
    """Which model a checkpoint holds, from its keys; raises for checkpoints of anything else."""
    keys = checkpoint_keys(prefix) if keys is None else keys
    if ORIGINAL_PAYLOAD_KEYS.dense in keys:
        return SourceKind.PAYLOAD
    if TRAINING_PAYLOAD_KEYS.dense in keys:
        return SourceKind.TRAINING_PAYLOAD
    if TRACK_HEAD_KERNEL in keys:
        return SourceKind.TRACK_HEAD
    if TRAINING_TRACK_HEAD_KERNEL in keys:
        return SourceKind.TRAINING_TRACK_HEAD
    if any(key.startswith(ENFORMER_TRUNK) for key in keys):
        return SourceKind.ENFORMER
    raise ModelSourceError(f"checkpoint {prefix} holds neither an Enformer, a payload model nor a track head "
                           f"(keys: {format_list(sorted(keys))})")


def resolve_model(spec: Optional[str], original: Optional[str] = None, what: str = "model") -> ModelSource:
    """Classify a model argument (see the module docstring).

    Args:
      spec: the argument; None, ``''`` and ``'original'`` stand for ``original``.
      original: what ``original`` means (e.g. ``--baseline DIR``); default ``$ENFORMERBASELINE``.
      what: how errors name the argument (``model``, ``--baseline``, ``--head``).

    Raises:
      ModelSourceError: the path does not exist, holds no model, or ``original`` is not set.
    """
    if spec in (None, "", "original"):
        spec = original or os.environ.get(ENV_BASELINE)
        if not spec:
            raise ModelSourceError(
                f"no baseline given and ${ENV_BASELINE} is not set: pass --baseline <checkpoint dir> "
                "(e.g. a copy of gs://dm-enformer/models/enformer/sonnet_weights/), --baseline tensorhub, "
                f"or --baseline random, or set {ENV_BASELINE}")
    if spec == "random" or spec.startswith("random:"):
        return ModelSource(SourceKind.RANDOM, spec.split(":", 1)[1] if ":" in spec else None, spec)
    if spec == "tensorhub" or spec.startswith("tensorhub:"):
        location = spec.split(":", 1)[1] if ":" in spec else os.environ.get(ENV_TENSORHUB)
        if not location:
            raise ModelSourceError(
                f"{what} tensorhub needs ${ENV_TENSORHUB} (a TF Hub/Kaggle handle or a SavedModel "
                "directory) or the form tensorhub:<handle-or-dir>")
        return ModelSource(SourceKind.TENSORHUB, location, spec)
    old_layout = spec + "-checkpoint"  # the original project's older checkpoint directories
    if not any(tf.io.gfile.exists(path) for path in (spec, spec + ".index", old_layout)):
        raise ModelSourceError(f"{what} {spec!r}: path not found. Expected {_SOURCES_HELP}")
    for candidate in (spec, os.path.join(spec, SERVING_SUBDIR)):
        if _is_export(candidate):
            return ModelSource(SourceKind.EXPORT, candidate, spec, checkpoint_prefix(weights_dir(candidate)))
        if has_saved_model(candidate):  # any other SavedModel is taken to be the hub Enformer
            return ModelSource(SourceKind.TENSORHUB, candidate, spec)
    version = latest_version(spec)
    if version and _is_export(version):
        return ModelSource(SourceKind.EXPORT, version, spec, checkpoint_prefix(weights_dir(version)))
    for candidate in (spec, os.path.join(spec, TRAINING_CHECKPOINT_DIR), old_layout):
        prefix = checkpoint_prefix(candidate)
        if prefix:
            return ModelSource(checkpoint_kind(prefix), prefix, spec)
    raise ModelSourceError(f"{what} {spec!r}: directory without a checkpoint (no SavedModel, {SERVING_SUBDIR} "
                           f"directory or TensorFlow checkpoint found). Expected {_SOURCES_HELP}")


def _as_source(model: Union[str, ModelSource], what: str) -> ModelSource:
    """A :class:`ModelSource`; an export stands for its original-format weights."""
    source = model if isinstance(model, ModelSource) else resolve_model(model, what=what)
    if source.kind is SourceKind.EXPORT and source.weights:
        return ModelSource(checkpoint_kind(source.weights), source.weights, weights_dir(source.location))
    return source


# --------------------------------------------------------------------------------------------
# Strict restore with a readable diff
# --------------------------------------------------------------------------------------------
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
    optional = lambda key: key.startswith(_OPTIONAL_ROOTS)  # noqa: E731
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
      ModelSourceError: listing keys of different shape, missing from the checkpoint, or unused.
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
    if status is not None:  # unmatched values are reported here, not again when the status is collected
        status.expect_partial()
    if not any(diff.values()) and status is not None:  # only optional entries were unused
        return
    if not any(diff.values()):
        raise ModelSourceError(f"{what}: cannot restore {prefix}: {detail}") from detail
    raise ModelSourceError(_format_diff(what, prefix, diff, hint)) from detail


# --------------------------------------------------------------------------------------------
# Writing (the same keys)
# --------------------------------------------------------------------------------------------
def original_checkpoint(model: Union[PayloadModel, TrackModel, Enformer], **extra: Any) -> tf.train.Checkpoint:
    """The original project's format: ``Checkpoint(module=Enformer, finetune=payload)`` or ``Checkpoint(head=Dense)``;
    an :class:`Enformer` (a trained trunk) in the published layout ``Checkpoint(module=Enformer)``."""
    if isinstance(model, Enformer):
        return tf.train.Checkpoint(**{ENFORMER_ROOT: model}, **extra)
    if isinstance(model, PayloadModel):
        return tf.train.Checkpoint(**{ENFORMER_ROOT: model.enformer, PAYLOAD_ROOT: model}, **extra)
    if isinstance(model, TrackModel):
        return tf.train.Checkpoint(**{TRACK_HEAD_ROOT: model.head}, **extra)
    raise TypeError(f"no original checkpoint format for {type(model).__name__}")


def save_weights(model: Union[PayloadModel, TrackModel, Enformer], serving_dir: str) -> str:
    """Write ``model`` in the original format into ``serving_dir``'s weights directory; returns the prefix."""
    return original_checkpoint(model).save(os.path.join(weights_dir(serving_dir), "ckpt"))


def training_checkpoint(model: snt.Module, optimizer: Any, epoch: tf.Variable) -> tf.train.Checkpoint:
    """Resumable Trainer state: the module being fit, the optimiser and the completed-epoch counter."""
    return tf.train.Checkpoint(**{TRAINING_MODEL_ROOT: model, TRAINING_OPTIMIZER_ROOT: optimizer,
                                  TRAINING_EPOCH_ROOT: epoch})


def enformer_layout(config: Union[str, EnformerConfig], **overrides: Any) -> Dict[str, List[int]]:
    """``{key: shape}`` that ``tf.train.Checkpoint(module=Enformer(config))`` writes (keys as
    :func:`checkpoint_keys` lists them), without allocating the weights.

    The model is built in a throwaway graph, where variables are symbolic, so even the
    published 251 M-parameter configuration costs no memory: its layout can be compared with
    any checkpoint.
    """
    snt.Module(name="eager_check")  # Sonnet checks for TF2 (eager) once, at its first module
    with tf.Graph().as_default():
        root = tf.train.Checkpoint(**{ENFORMER_ROOT: enformer_lib.build_enformer(config, **overrides)})
        view = tf.train.TrackableView(root)
        layout: Dict[str, List[int]] = {}
        pending, seen = [("", root)], set()
        while pending:
            path, parent = pending.pop(0)  # breadth first, like the checkpoint writer names objects
            if id(parent) in seen:
                continue
            seen.add(id(parent))
            for name, child in view.children(parent).items():
                key = f"{path}/{name}" if path else name
                if isinstance(child, tf.Variable):
                    layout[key] = child.shape.as_list()
                else:
                    pending.append((key, child))
    return layout


# --------------------------------------------------------------------------------------------
# Config inference from checkpoint shapes
# --------------------------------------------------------------------------------------------
def config_from_checkpoint(prefix: str, root: str = ENFORMER_ROOT) -> EnformerConfig:
    """Recover the :class:`EnformerConfig` that wrote ``prefix`` from its variable shapes."""
    shapes = checkpoint_keys(prefix)
    trunk = f"{root}/_trunk/_layers"
    stem = shapes.get(f"{trunk}/0/_layers/0/w")
    if stem is None:
        raise ModelSourceError(f"{prefix}: no Enformer under '{root}/' (found e.g. {format_list(sorted(shapes))})")
    channels = 2 * stem[-1]
    layers = {int(m.group(1)) for k in shapes for m in [re.match(rf"{trunk}/2/_layers/(\d+)/", k)] if m}
    bias = next(v for k, v in shapes.items() if k.endswith("_r_w_bias"))
    heads = {m.group(1): v[-1] for k, v in shapes.items()
             for m in [re.match(rf"{root}/_heads/([^/]+)/_layers/0/b$", k)] if m}
    tower = [shapes[f"{trunk}/1/_layers/{i}/_layers/0/_layers/2/w"][-1] for i in range(6)]
    divisible = next((d for d in (128, 64, 32, 16, 8, 4, 2, 1)
                      if enformer_lib.exponential_linspace_int(channels // 2, channels, 6, d) == tower), None)
    if divisible is None:
        raise ModelSourceError(f"{prefix}: conv tower widths {tower} do not follow the Enformer schedule")
    pooling = "attention" if f"{trunk}/0/_layers/2/_logit_linear/w" in shapes else "max"
    return EnformerConfig(channels=channels, num_transformer_layers=len(layers), num_heads=bias[1],
                          pooling_type=pooling, heads=heads, key_size=bias[-1], filters_divisible_by=divisible)


# --------------------------------------------------------------------------------------------
# Enformer sources
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
            raise ModelSourceError(f"{source}: SavedModel has no model.predict_on_batch (not the Enformer hub model)")
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
            raise ModelSourceError("the TF Hub Enformer is inference only; fine-tune from Sonnet weights instead")
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
        raise ModelSourceError(
            "the TF Hub Enformer exposes only predict_on_batch (species heads), not the trunk embedding: "
            "fine-tuning and new track heads need Sonnet weights (--baseline <checkpoint dir>)")


def load_tensorhub(handle: str) -> TensorHubEnformer:
    """Load the hub Enformer from a local SavedModel directory or a TF Hub/Kaggle handle."""
    if has_saved_model(handle):
        return TensorHubEnformer(tf.saved_model.load(handle), handle)
    if "://" not in handle and (os.path.isabs(handle) or handle.startswith(".")):
        raise ModelSourceError(f"tensorhub {handle!r}: directory not found or holds no saved_model.pb")
    advice = ("download the model once (Kaggle: deepmind/enformer, TensorFlow2 variant 'enformer', "
              "version 1 -> a .tar.gz), extract it and pass the directory: --baseline tensorhub:/path/to/dir "
              f"(or set {ENV_TENSORHUB} to that directory)")
    try:
        import tensorflow_hub as hub  # noqa: F401  - lazily: it does not import on this stack
    except Exception as error:  # ImportError: tf.compat.v1.estimator was removed in TF 2.16
        raise ModelSourceError(
            f"cannot fetch TF Hub handle {handle!r}: tensorflow_hub does not import with TensorFlow "
            f"{tf.__version__} ({type(error).__name__}: {error}). {advice}") from error
    try:
        loaded = hub.load(handle)
    except Exception as error:
        raise ModelSourceError(f"cannot fetch TF Hub handle {handle!r} ({type(error).__name__}: {error}). {advice}") from error
    return TensorHubEnformer(loaded, handle)


def restore_enformer(model: Enformer, prefix: str) -> Enformer:
    """Strictly restore ``tf.train.Checkpoint(module=model)`` from ``prefix``."""
    hint = ""
    try:
        found = config_from_checkpoint(prefix)
        if found.to_dict() != model.config.replace(target_length=None).to_dict():
            hint = f"  the checkpoint was written by an Enformer with {found.to_dict()}"
    except (ModelSourceError, KeyError, StopIteration):
        pass
    strict_restore({ENFORMER_ROOT: model}, prefix, build=None, what="Enformer baseline", hint=hint)
    return model


def random_baseline(config: Union[str, EnformerConfig, None] = DEFAULT_RANDOM_PRESET, **model_kwargs: Any) -> Enformer:
    """Explicitly random-initialised Enformer (``--baseline random``)."""
    return enformer_lib.build_enformer(config, **model_kwargs)


def load_enformer(baseline: Union[str, ModelSource, None] = None, config: Union[str, EnformerConfig, None] = "full",
                  **model_kwargs: Any) -> Union[Enformer, TensorHubEnformer]:
    """The Enformer a ``--baseline`` names: an Enformer checkpoint, TF Hub, or ``random[:preset]``.

    ``config``: preset name or :class:`EnformerConfig` for a checkpoint or ``random`` (a
    ``random:<preset>`` overrides it; ``'auto'`` reads it from the checkpoint shapes);
    ``model_kwargs``: config overrides such as ``target_length`` and ``jit_compile`` /
    ``compute_dtype``.
    """
    # An export of a trained trunk stands for its weights (the published layout) like a checkpoint.
    source = _as_source(baseline, "--baseline")
    if source.kind is SourceKind.TENSORHUB:
        return load_tensorhub(source.location)
    if source.kind is SourceKind.RANDOM:
        if config == "auto" and not source.location:
            raise ModelSourceError("config='auto' needs a checkpoint baseline")
        return random_baseline(source.location or config, **model_kwargs)
    if source.kind is not SourceKind.ENFORMER:
        raise ModelSourceError(f"--baseline {source.given!r}: {source.description} is not an Enformer "
                               f"(expected tf.train.Checkpoint({ENFORMER_ROOT}=Enformer), TF Hub or random)")
    if config == "auto":
        config = config_from_checkpoint(source.location)
    return restore_enformer(enformer_lib.build_enformer(config, **model_kwargs), source.location)


# --------------------------------------------------------------------------------------------
# Payload models and track heads (ours and the original project's)
# --------------------------------------------------------------------------------------------
def _model_definition(path: Optional[str]) -> Dict[str, Any]:
    """The original project's ``<model>.json`` (key_size/value_size/num_heads/baseline), if any."""
    if not path:
        return {}
    for candidate in (path.rstrip("/") + ".json", os.path.join(path, "model.json")):
        if tf.io.gfile.exists(candidate):
            with tf.io.gfile.GFile(candidate) as handle:
                return json.load(handle)
    return {}


@dataclasses.dataclass(frozen=True)
class PayloadHeadLayout:
    """Payload head sizes read off a checkpoint: attention sizes, pooling, bins (``flatten`` only)."""

    key_size: int
    value_size: int
    num_heads: int
    pooling: str
    bins: Optional[int]


def payload_head_layout(source: ModelSource, key_size: Optional[int] = None, value_size: Optional[int] = None,
                        num_heads: Optional[int] = None) -> PayloadHeadLayout:
    """Head sizes from the arguments, else ``<model>.json`` (original ``modeldef``), else the kernel shapes.

    Kernel shapes fix ``key_size * num_heads`` and ``value_size * num_heads``; ``key_size``
    defaults to 64 (all published heads). The pooling (and, for the original ``flatten`` head,
    the number of bins) follows from the dense kernel's shape.
    """
    keys = ORIGINAL_PAYLOAD_KEYS if source.kind is SourceKind.PAYLOAD else TRAINING_PAYLOAD_KEYS
    shapes = checkpoint_keys(source.location)
    q_shape, v_shape, dense_shape = shapes.get(keys.query), shapes.get(keys.value), shapes.get(keys.dense)
    if q_shape is None or v_shape is None or dense_shape is None:
        raise ModelSourceError(
            f"{source.location}: not a fine-tuned payload checkpoint (expected {keys.query} and "
            f"{keys.dense}; found {format_list(sorted(shapes))})")
    definition = _model_definition(source.given)
    key_size = key_size or definition.get("key_size") or 64
    num_heads = num_heads or definition.get("num_heads") or max(1, q_shape[-1] // key_size)
    value_size = value_size or definition.get("value_size") or v_shape[-1] // num_heads
    if key_size * num_heads != q_shape[-1] or value_size * num_heads != v_shape[-1]:
        raise ModelSourceError(
            f"{source.location}: head size mismatch: checkpoint projections are q {q_shape}, v {v_shape}, which do "
            f"not fit key_size={key_size}, value_size={value_size}, num_heads={num_heads}")
    width = value_size * num_heads
    if dense_shape[0] == width:
        return PayloadHeadLayout(key_size, value_size, num_heads, "mean", None)
    if dense_shape[0] % width == 0:
        return PayloadHeadLayout(key_size, value_size, num_heads, "flatten", dense_shape[0] // width)
    raise ModelSourceError(f"{source.location}: dense kernel {dense_shape} does not fit attention output width {width}")


def load_payload_model(path: Union[str, ModelSource], key_size: Optional[int] = None,
                       value_size: Optional[int] = None, num_heads: Optional[int] = None,
                       config: Union[str, EnformerConfig, None] = "auto", input_length: Optional[int] = None,
                       baseline: Optional[str] = None, **model_kwargs: Any) -> PayloadModel:
    """Load a payload model: a fine-tuned checkpoint, an export's weights, or a training checkpoint.

    * ``PAYLOAD`` (``Checkpoint(module=Enformer, finetune=[trunk, attention, pool, dense])``,
      ours or the original project's): the Enformer is built from ``config`` (``'auto'``: read
      off the checkpoint) and restored together with the head.
    * ``TRAINING_PAYLOAD``: trunk and head from the checkpoint, the species heads from the
      ``baseline`` Enformer (see :func:`load_enformer`; default ``$ENFORMERBASELINE``).

    ``input_length`` (bp) must match the bins of an original ``flatten`` head; head sizes: see
    :func:`payload_head_layout`.
    """
    source = _as_source(path, "model")
    if source.kind not in PAYLOAD_KINDS:
        raise ModelSourceError(f"{source.given}: {source.description} is not a fine-tuned payload checkpoint "
                               f"(expected {ORIGINAL_PAYLOAD_KEYS.dense})")
    layout = payload_head_layout(source, key_size, value_size, num_heads)
    if source.kind is SourceKind.PAYLOAD:
        if config == "auto":
            config = config_from_checkpoint(source.location)
        model = enformer_lib.build_enformer(config, **model_kwargs)
    else:
        model = load_trunk(resolve_model(baseline, what="--baseline"))
        if not isinstance(model, Enformer):
            raise ModelSourceError("a training checkpoint needs a Sonnet baseline (--baseline <checkpoint dir>), "
                                   "not TF Hub")
    target = model.target_length
    if layout.bins is not None:
        input_length = input_length or (target or layout.bins) * DOWNSAMPLING
        if model.output_bins(input_length) != layout.bins:
            raise ModelSourceError(
                f"{source.location}: the payload head (original flatten layout) was trained on {layout.bins} bins "
                f"({layout.bins * DOWNSAMPLING} bp); input_length={input_length} bp gives "
                f"{model.output_bins(input_length)}")
    else:
        input_length = input_length or (target or 1) * DOWNSAMPLING
    payload = PayloadModel(model, layout.key_size, layout.value_size, layout.num_heads, pooling=layout.pooling)
    objects = ({ENFORMER_ROOT: model, PAYLOAD_ROOT: payload} if source.kind is SourceKind.PAYLOAD
               else {TRAINING_MODEL_ROOT: payload})
    strict_restore(objects, source.location, build=lambda: payload.build(input_length), what=source.description)
    return payload


def load_track_model(path: Union[str, ModelSource], enformer: Enformer, n_tracks: Optional[int] = None) -> TrackModel:
    """Attach a trained track head (original ``Checkpoint(head=Dense)``, an export's weights, or a training checkpoint).

    ``n_tracks`` (e.g. rows of tracks.tsv) is checked against the checkpoint when given.
    """
    source = _as_source(path, "--head")
    if source.kind not in TRACK_HEAD_KINDS:
        raise ModelSourceError(f"{source.given}: {source.description} is not a track head "
                               f"(expected {TRACK_HEAD_KERNEL} or {TRAINING_TRACK_HEAD_KERNEL})")
    training = source.kind is SourceKind.TRAINING_TRACK_HEAD
    kernel = checkpoint_keys(source.location)[TRAINING_TRACK_HEAD_KERNEL if training else TRACK_HEAD_KERNEL]
    if n_tracks is not None and kernel[-1] != n_tracks:
        raise ModelSourceError(
            f"{source.location}: head size mismatch: the checkpoint head predicts {kernel[-1]} tracks, "
            f"expected {n_tracks}")
    if kernel[0] != enformer.embedding_size:
        raise ModelSourceError(
            f"{source.location}: head size mismatch: the head reads {kernel[0]} trunk features, this Enformer "
            f"produces {enformer.embedding_size} (channels={enformer.config.channels})")
    model = TrackModel(enformer, kernel[-1])
    if training:
        objects = {TRAINING_MODEL_ROOT: HeadOnly(model)}
    else:
        objects = {TRACK_HEAD_ROOT: model.head}
    strict_restore(objects, source.location, what=source.description)
    return model


def load_trunk(source: ModelSource, baseline: Optional[str] = None) -> Union[Enformer, TensorHubEnformer]:
    """The Enformer (trunk + species heads) a model source carries.

    Enformer checkpoints (config read off the shapes), TF Hub, ``random[:preset]`` (logged as
    meaningless), and payload models (their fine-tuned trunk; a training checkpoint takes its
    species heads from ``baseline``). Track heads and exports carry no usable trunk.
    """
    if source.kind is SourceKind.RANDOM:
        preset = source.location or DEFAULT_RANDOM_PRESET
        LOG.warning("using a RANDOMLY initialised Enformer (%s preset): predictions are meaningless", preset)
        return random_baseline(preset)
    if source.kind is SourceKind.ENFORMER:
        return load_enformer(source, config="auto")
    if source.kind is SourceKind.TENSORHUB:
        return load_tensorhub(source.location)
    if source.kind in PAYLOAD_KINDS:
        return load_payload_model(source, baseline=baseline).enformer
    raise ModelSourceError(f"{source.description} carries no Enformer trunk")
