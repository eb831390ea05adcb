"""One prediction interface over every model source the CLI accepts.

A :class:`Predictor` maps a batch of one-hot windows ``[B, L, 4]`` (float32, A,C,G,T; N = zero
row) to named NumPy outputs:

* ``activity`` ``[B]`` -- the payload head (fine-tuned models);
* ``human`` / ``mouse`` ``[B, bins, T]`` -- the Enformer species heads;
* ``tracks`` ``[B, bins, T]`` -- a new track head;

with ``bins = L / 128`` and ``T`` the selected track columns (all when none were selected).
Only the requested outputs (and track columns) are computed: the selection happens inside the
graph, so e.g. ``mouse`` track 10 never materialises the other 1,642 tracks on the host.

The whole model runs through ONE ``tf.function`` with the fixed input signature
``[None, L, 4] float32``: any batch size reuses the same trace (no retracing per region or per
last, shorter batch).

Model sources (:func:`load_predictor`, argument ``model``):

* an exported SavedModel (``export_saved_model``; has ``assets.extra/enformer_tfx.json``) --
  its ``predict_one_hot`` signature. When it lacks a requested output (a payload export has
  only ``activity``) and ``assets.extra/weights/`` holds the original-format checkpoint, the
  model is rebuilt from that checkpoint instead (the species heads live there);
* a Trainer model artifact (``<model>/Format-Serving``) or a Pusher directory of numbered
  versions (the highest version is used);
* a checkpoint directory/prefix: original format fine-tuned payload model
  (``module`` + ``finetune``), an Enformer (``module``), a track head (``head``, trunk from
  ``baseline``), or a Trainer training checkpoint (``model/...``, species heads and, for
  track heads, the trunk from ``baseline``);
* ``original`` (= ``$ENFORMERBASELINE``), ``tensorhub[:handle-or-dir]``;
* ``random[:preset]`` -- random weights, only because the name asks for it (tests, demos).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from components import genome
from components.genome import InputError, format_list
from trainer import baseline as baseline_lib
from trainer import export as export_lib
from trainer.enformer import DOWNSAMPLING, Enformer, check_length
from trainer.heads import PayloadModel, TrackModel

LOG = logging.getLogger(__name__)

DEFAULT_LENGTH = 25_600
ACTIVITY = "activity"
TRACKS = "tracks"
SPECIES_HEADS = ("human", "mouse")
SERVING_SUBDIR = "Format-Serving"

# Requested outputs: name -> track columns to keep (None = all; ignored for ``activity``).
Request = Mapping[str, Optional[Sequence[int]]]


class Predictor:
    """``[B, L, 4]`` one-hot -> ``{name: np.ndarray}`` through one compiled function.

    Attributes:
      input_length: ``L`` in bp (fixed for the life of the predictor).
      outputs: ``{name: track columns or None}`` actually produced (a subset of the request).
      n_tracks: ``{name: total tracks of that head}`` (``activity`` -> 1).
      missing: requested outputs this model does not have (only with ``strict=False``).
      source: human-readable description of what was loaded.
    """

    def __init__(self, fn: Callable[[tf.Tensor], Dict[str, tf.Tensor]], input_length: int,
                 outputs: Dict[str, Optional[List[int]]], n_tracks: Dict[str, int], source: str,
                 missing: Sequence[str] = (), keep_alive: Any = None):
        self.input_length = int(input_length)
        self.outputs = outputs
        self.n_tracks = n_tracks
        self.source = source
        self.missing = tuple(missing)
        self._keep_alive = keep_alive  # loaded SavedModels own the variables the graph reads
        selected = {name: (None if cols is None else tf.constant(cols, tf.int32)) for name, cols in outputs.items()}

        def run(one_hot: tf.Tensor) -> Dict[str, tf.Tensor]:
            raw = fn(one_hot)
            result = {}
            for name, cols in selected.items():
                value = raw[name]
                result[name] = value if cols is None or name == ACTIVITY else tf.gather(value, cols, axis=-1)
            return result

        self._fn = tf.function(
            run, input_signature=[tf.TensorSpec([None, self.input_length, 4], tf.float32, name="one_hot")],
            autograph=False)

    @property
    def bins(self) -> int:
        """Output bins per window (``L / 128``)."""
        return self.input_length // DOWNSAMPLING

    def __call__(self, one_hot: np.ndarray) -> Dict[str, np.ndarray]:
        """``[B, L, 4]`` float32 -> ``{activity: [B], head: [B, bins, T]}`` (NumPy)."""
        one_hot = np.asarray(one_hot, dtype=np.float32)
        if one_hot.ndim != 3 or one_hot.shape[1:] != (self.input_length, 4):
            raise InputError(f"predictor expects one-hot [batch, {self.input_length}, 4], got {one_hot.shape}")
        return {name: value.numpy() for name, value in self._fn(tf.constant(one_hot)).items()}

    @property
    def function(self) -> Callable[[tf.Tensor], Dict[str, tf.Tensor]]:
        """The compiled ``[B, L, 4] -> {name: tensor}`` function (differentiable; for attribution)."""
        return self._fn

    def trace_count(self) -> int:
        """How many times the function was traced (1 after any number of calls)."""
        return int(self._fn.experimental_get_tracing_count())


# --------------------------------------------------------------------------------------------
# Source resolution
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ModelSource:
    """``kind``: ``saved_model``, ``checkpoint``, ``baseline`` (original/tensorhub), ``random``."""

    kind: str
    location: str


def _has_saved_model(path: str) -> bool:
    return tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))


def _has_metadata(path: str) -> bool:
    return tf.io.gfile.exists(os.path.join(path, "assets.extra", export_lib.METADATA_FILE))


def _latest_version(path: str) -> Optional[str]:
    """Pusher layout ``<dir>/<number>/saved_model.pb``: the highest numbered version."""
    if not tf.io.gfile.isdir(path):
        return None
    versions = [name.rstrip("/") for name in tf.io.gfile.listdir(path) if re.fullmatch(r"\d+/?", name)]
    versions = [v for v in versions if _has_saved_model(os.path.join(path, v))]
    return os.path.join(path, max(versions, key=int)) if versions else None


def resolve_model(model: str) -> ModelSource:
    """Classify a ``MODEL`` argument (see module docstring)."""
    if model in ("", "original") or model == "tensorhub" or model.startswith("tensorhub:"):
        return ModelSource("baseline", model)
    if model == "random" or model.startswith("random:"):
        return ModelSource("random", model.split(":", 1)[1] if ":" in model else "tiny")
    if not tf.io.gfile.exists(model) and not tf.io.gfile.exists(model + ".index"):
        raise InputError(
            f"model {model!r}: path not found. Use an exported SavedModel, a Trainer model artifact, a checkpoint "
            "directory, 'original' ($ENFORMERBASELINE), 'tensorhub[:handle-or-dir]' or 'random[:preset]'")
    for candidate in (model, os.path.join(model, SERVING_SUBDIR)):
        if _has_saved_model(candidate):
            # Our exports carry metadata; any other SavedModel is taken to be the hub Enformer.
            return ModelSource("saved_model" if _has_metadata(candidate) else "baseline",
                               candidate if _has_metadata(candidate) else f"tensorhub:{candidate}")
    latest = _latest_version(model)
    if latest:
        return ModelSource("saved_model", latest)
    return ModelSource("checkpoint", model)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def _select(request: Request, available: Mapping[str, int], strict: bool, what: str
            ) -> Tuple[Dict[str, Optional[List[int]]], List[str]]:
    """Check the request against ``{output: n_tracks}``; returns (selection, missing)."""
    selection: Dict[str, Optional[List[int]]] = {}
    missing: List[str] = []
    for name, cols in request.items():
        if name not in available:
            if strict:
                raise InputError(f"{what} has no output {name!r}: it provides {format_list(sorted(available))}")
            missing.append(name)
            continue
        if cols is None or name == ACTIVITY:
            selection[name] = None
            continue
        cols = [int(c) for c in cols]
        bad = [c for c in cols if not 0 <= c < available[name]]
        if bad:
            raise InputError(f"{what}: track index {format_list(bad)} out of range for output {name!r} "
                             f"({available[name]} tracks, 0..{available[name] - 1})")
        selection[name] = cols
    return selection, missing


def _fixed_length(length: Optional[int], model_length: Optional[int], what: str) -> int:
    if model_length is None:
        chosen = length or DEFAULT_LENGTH
    elif length and length != model_length:
        raise InputError(f"{what} takes {model_length} bp windows; --length {length} does not match "
                         f"(omit --length or pass {model_length})")
    else:
        chosen = model_length
    check_length(chosen)
    return chosen


def _composite_fn(enformer: Any, payload: Optional[PayloadModel], track: Optional[TrackModel],
                  selection: Mapping[str, Any]) -> Callable[[tf.Tensor], Dict[str, tf.Tensor]]:
    """Trunk once, then only the selected heads: ``[B, L, 4] -> {name: tensor}``."""
    species = [name for name in selection if name not in (ACTIVITY, TRACKS)]

    def fn(one_hot: tf.Tensor) -> Dict[str, tf.Tensor]:
        if not isinstance(enformer, Enformer):  # TF Hub model: predictions only, no trunk
            return dict(enformer(one_hot))
        embedding = enformer.trunk(one_hot, is_training=False)
        out: Dict[str, tf.Tensor] = {}
        if species:
            out.update(enformer.apply_heads(embedding, heads=species))
        if ACTIVITY in selection:
            out[ACTIVITY] = tf.squeeze(payload.head(embedding), axis=-1)
        if TRACKS in selection:
            out[TRACKS] = track.head(embedding)
        return out

    return fn


def _species_tracks(enformer: Any) -> Dict[str, int]:
    if isinstance(enformer, Enformer):
        return dict(enformer.config.heads)
    return dict(baseline_lib.enformer_lib.REFERENCE_HEADS)  # TF Hub model: the published heads


def _load_baseline(baseline: Optional[str]) -> Any:
    """Enformer for ``original``/``tensorhub``/checkpoint/``random[:preset]`` baselines."""
    if baseline and (baseline == "random" or baseline.startswith("random:")):
        preset = baseline.split(":", 1)[1] if ":" in baseline else "tiny"
        LOG.warning("using a RANDOMLY initialised Enformer (%s preset): predictions are meaningless", preset)
        return baseline_lib.random_baseline(preset)
    spec = baseline_lib.resolve_baseline(baseline)
    return baseline_lib.load_enformer(baseline, config="auto" if spec.kind == "checkpoint" else "full")


def _checkpoint_keys(prefix: str) -> Dict[str, List[int]]:
    return baseline_lib.checkpoint_keys(prefix)  # noqa: SLF001 - the one place that lists checkpoint keys


def _load_training_payload(prefix: str, shapes: Mapping[str, List[int]], baseline: Optional[str],
                           key_size: Optional[int], num_heads: Optional[int], input_length: Optional[int]) -> PayloadModel:
    """A Trainer training checkpoint (``model=<PayloadModel>``): trunk + head from it, heads from ``baseline``."""
    enformer = _load_baseline(baseline)
    if not isinstance(enformer, Enformer):
        raise InputError("a training checkpoint needs a Sonnet baseline (--baseline <checkpoint dir>), not TF Hub")
    q, v, dense = (shapes["model/_layers/1/_q/kernel"], shapes["model/_layers/1/_v/kernel"],
                   shapes["model/_layers/3/kernel"])
    key_size = key_size or 64
    num_heads = num_heads or max(1, q[-1] // key_size)
    value_size = v[-1] // num_heads
    width = value_size * num_heads
    pooling = "mean" if dense[0] == width else "flatten"
    length = input_length or (dense[0] // width * DOWNSAMPLING if pooling == "flatten" else DEFAULT_LENGTH)
    payload = PayloadModel(enformer, key_size, value_size, num_heads, pooling=pooling)
    baseline_lib.strict_restore({"model": payload}, prefix, build=lambda: payload.build(length),
                                what="training checkpoint (payload model)")
    return payload


def load_predictor(model: str, request: Request, length: Optional[int] = None, *,
                   baseline: Optional[str] = None, track_head: Optional[str] = None,
                   key_size: Optional[int] = None, value_size: Optional[int] = None,
                   num_heads: Optional[int] = None, strict: bool = True) -> Predictor:
    """Load ``model`` and compile a :class:`Predictor` for ``request``.

    Args:
      model: see the module docstring.
      request: ``{output: track columns or None}``, outputs among ``activity``, ``human``,
        ``mouse``, ``tracks``.
      length: window bp; None = the model's fixed length, else 25,600.
      baseline: trunk (and species heads) for checkpoints that do not carry them: a track-head
        checkpoint or a training checkpoint. Default ``$ENFORMERBASELINE``.
      track_head: a track-head checkpoint or exported track model (``tracks`` output); with a
        checkpoint, the trunk is ``model``'s.
      key_size, value_size, num_heads: payload head sizes for original checkpoints whose
        ``<model>.json`` is missing.
      strict: raise for requested outputs the model lacks (else they are listed in ``missing``).
    """
    if track_head is not None:
        return _load_track_predictor(model, track_head, request, length, baseline, strict)
    source = resolve_model(model)
    if source.kind == "saved_model":
        return _load_saved_model(source.location, request, length, strict, key_size, value_size, num_heads)
    if source.kind == "random":
        return from_modules(_load_baseline(f"random:{source.location}"), None, None, request, length, strict,
                            f"random Enformer ({source.location})")
    if source.kind == "baseline":
        return from_modules(_load_baseline(source.location or None), None, None, request, length, strict,
                            f"Enformer baseline {source.location or 'original'}")
    return _load_checkpoint(source.location, request, length, strict, baseline, key_size, value_size, num_heads)


def from_modules(enformer: Any, payload: Optional[PayloadModel] = None, track: Optional[TrackModel] = None,
                 request: Request = None, length: Optional[int] = None, strict: bool = True,
                 source: str = "in-memory model") -> Predictor:
    """:class:`Predictor` over in-memory modules (``enformer`` may be the TF Hub wrapper).

    ``payload``/``track`` add the ``activity``/``tracks`` outputs on the same trunk.
    """
    request = request if request is not None else {name: None for name in _species_tracks(enformer)}
    available = _species_tracks(enformer)
    if payload is not None:
        available[ACTIVITY] = 1
    if track is not None:
        available[TRACKS] = track.n_tracks
    selection, missing = _select(request, available, strict, source)
    model_length = None
    if payload is not None and payload.input_bins is not None:
        model_length = payload.input_bins * DOWNSAMPLING
    if not isinstance(enformer, Enformer):
        length = length or DEFAULT_LENGTH
        enformer.output_bins(length)  # raises for windows the hub model cannot serve
    input_length = _fixed_length(length, model_length, source)
    fn = _composite_fn(enformer, payload, track, selection)
    return Predictor(fn, input_length, selection, available, source, missing, keep_alive=(enformer, payload, track))


def _load_checkpoint(path: str, request: Request, length: Optional[int], strict: bool, baseline: Optional[str],
                     key_size: Optional[int], value_size: Optional[int], num_heads: Optional[int]) -> Predictor:
    prefix = baseline_lib.checkpoint_prefix(path) or baseline_lib.checkpoint_prefix(os.path.join(path, "checkpoints"))
    if prefix is None:
        raise InputError(f"model {path!r}: no SavedModel, Format-Serving directory or TensorFlow checkpoint found")
    shapes = _checkpoint_keys(prefix)
    if "finetune/_layers/3/kernel" in shapes:
        payload = baseline_lib.load_payload_model(path if baseline_lib.checkpoint_prefix(path) else prefix,
                                                  key_size, value_size, num_heads, config="auto", input_length=length)
        return from_modules(payload.enformer, payload, None, request, length, strict, f"fine-tuned payload model {prefix}")
    if "model/_layers/3/kernel" in shapes:
        payload = _load_training_payload(prefix, shapes, baseline, key_size, num_heads, length)
        return from_modules(payload.enformer, payload, None, request, length, strict, f"training checkpoint {prefix}")
    if "head/kernel" in shapes or "model/head/kernel" in shapes:
        raise InputError(f"model {path!r} is a track head only: pass the trunk as MODEL (e.g. 'original') and "
                         f"this directory as --head {path}")
    if any(key.startswith("module/_trunk/") for key in shapes):
        enformer = baseline_lib.load_enformer(prefix, config="auto")
        return from_modules(enformer, None, None, request, length, strict, f"Enformer checkpoint {prefix}")
    raise InputError(f"model {path!r}: checkpoint {prefix} holds neither an Enformer, a payload model nor a track "
                     f"head (keys: {format_list(sorted(shapes))})")


def _signature_outputs(signature: Any) -> Dict[str, int]:
    return {name: (1 if spec.shape.rank == 1 else int(spec.shape[-1]))
            for name, spec in signature.structured_outputs.items()}


def _load_saved_model(path: str, request: Request, length: Optional[int], strict: bool, key_size: Optional[int],
                      value_size: Optional[int], num_heads: Optional[int]) -> Predictor:
    metadata = export_lib.read_metadata(path)
    weights = os.path.join(path, export_lib.WEIGHTS_DIR)
    exported = set()
    for name in metadata.get("outputs", []):  # "heads" = an exported Enformer's species heads
        exported.update(metadata.get("enformer", {}).get("heads", {}) if name == "heads" else [name])
    wanted_missing = [name for name in request if exported and name not in exported]
    prefix = baseline_lib.checkpoint_prefix(weights) if wanted_missing else None
    if prefix and "finetune/_layers/3/kernel" in _checkpoint_keys(prefix):
        # A payload export serves only `activity`; its original-format weights also hold the
        # species heads, so rebuild the model from them (without loading the SavedModel at all).
        head = metadata.get("activity_head", {})
        LOG.info("%s lacks %s in its signature: rebuilding the model from %s", path, wanted_missing, weights)
        model_length = int(metadata["input_length"])
        payload = baseline_lib.load_payload_model(
            weights, key_size or head.get("key_size"), value_size or head.get("value_size"),
            num_heads or head.get("num_heads"), config="auto", input_length=model_length)
        return from_modules(payload.enformer, payload, None, request, length or model_length, strict,
                            f"payload model {path} (weights)")
    loaded = tf.saved_model.load(path)
    if export_lib.RAW_SIGNATURE not in loaded.signatures:
        raise InputError(f"SavedModel {path} has no {export_lib.RAW_SIGNATURE!r} signature (exported by an older version?)")
    signature = loaded.signatures[export_lib.RAW_SIGNATURE]
    available = _signature_outputs(signature)
    model_length = int(metadata.get("input_length") or signature.structured_input_signature[1][export_lib.RAW_INPUT].shape[1])
    selection, missing = _select(request, available, strict, f"SavedModel {path}")
    input_length = _fixed_length(length, model_length, f"SavedModel {path}")

    def fn(one_hot: tf.Tensor) -> Dict[str, tf.Tensor]:
        return signature(**{export_lib.RAW_INPUT: one_hot})

    return Predictor(fn, input_length, selection, available, f"SavedModel {path}", missing, keep_alive=loaded)


def _load_track_predictor(model: str, head: str, request: Request, length: Optional[int], baseline: Optional[str],
                          strict: bool) -> Predictor:
    """``--head PATH``: an exported track model (used whole) or a head checkpoint on ``model``'s trunk."""
    source = resolve_model(head)
    if source.kind == "saved_model":
        return _load_saved_model(source.location, request, length, strict, None, None, None)
    if source.kind != "checkpoint":
        raise InputError(f"--head {head!r}: expected 'human', 'mouse', 'finetune' or a track-head directory")
    trunk_source = resolve_model(model)
    if trunk_source.kind == "checkpoint":
        prefix = baseline_lib.checkpoint_prefix(trunk_source.location)
        if prefix and "finetune/_layers/3/kernel" in _checkpoint_keys(prefix):
            enformer = baseline_lib.load_payload_model(trunk_source.location, config="auto").enformer
        else:
            enformer = baseline_lib.load_enformer(trunk_source.location, config="auto")
    elif trunk_source.kind == "saved_model":
        raise InputError(f"--head {head} is a head checkpoint: MODEL must be a trunk checkpoint, 'original' or "
                         f"'random', not the SavedModel {trunk_source.location}")
    elif trunk_source.kind == "random":
        enformer = _load_baseline(f"random:{trunk_source.location}")
    else:
        enformer = _load_baseline(trunk_source.location or baseline)
    if not isinstance(enformer, Enformer):
        raise InputError("a track head needs the Sonnet trunk (checkpoint weights), not the TF Hub model")
    prefix = baseline_lib.checkpoint_prefix(source.location)
    if prefix and "model/head/kernel" in _checkpoint_keys(prefix):  # Trainer training checkpoint
        track = TrackModel(enformer, _checkpoint_keys(prefix)["model/head/kernel"][-1])
        holder = tf.Module()
        holder.head = track.head
        baseline_lib.strict_restore({"model": holder}, prefix, what="training checkpoint (track head)")
    else:
        track = baseline_lib.load_track_model(source.location, enformer)
    return from_modules(enformer, None, track, request, length, strict, f"track head {head}")


# --------------------------------------------------------------------------------------------
# Ensembling helpers shared by the commands
# --------------------------------------------------------------------------------------------
def predict_codes(predictor: Predictor, codes: np.ndarray, reverse_complement: bool = False) -> Dict[str, np.ndarray]:
    """Predict ``[N, L]`` uint8 codes in ONE model call; with ``reverse_complement`` average strands.

    The reverse-complement windows are stacked after the forward ones (``[2N, L, 4]``, one
    call); their binned outputs are flipped back along the bin axis before averaging, so bin
    ``j`` of both strands covers the same bases. Returns ``activity [N]``, heads ``[N, bins, T]``.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    n = codes.shape[0]
    if reverse_complement:
        codes = np.concatenate([codes, genome.reverse_complement_codes(codes)], axis=0)
    outputs = predictor(genome.one_hot(codes))
    if not reverse_complement:
        return outputs
    merged = {}
    for name, value in outputs.items():
        forward, backward = value[:n], value[n:]
        if value.ndim == 3:
            backward = backward[:, ::-1, :]
        merged[name] = (forward + backward) / 2.0
    return merged
