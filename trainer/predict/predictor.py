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

Model sources (:func:`load_predictor`, argument ``model``) are resolved and loaded by
:mod:`trainer.checkpoints` (published Sonnet weights, TF Hub, the original project's Zenodo
models, our checkpoints and exports, ``random[:preset]`` only when named). An export is served
through its ``predict_one_hot`` signature; when that lacks a requested output (a payload export
has only ``activity``) and its ``assets.extra/weights/`` hold the payload checkpoint, the model
is rebuilt from those weights instead (the species heads live there). Checkpoints without a
trunk or species heads (track heads, training checkpoints) take them from ``baseline``.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from components import genome
from components.errors import InputError
from components.genome import format_list
from components.records import DEFAULT_WINDOW_LENGTH
from trainer import checkpoints
from trainer import export as export_lib
from trainer import precision as precision_lib
from trainer.checkpoints import ModelSource, SourceKind
from trainer.enformer import DOWNSAMPLING, REFERENCE_HEADS, Enformer, check_length
from trainer.heads import PayloadModel, TrackModel

LOG = logging.getLogger(__name__)

ACTIVITY = "activity"
TRACKS = "tracks"
SPECIES_HEADS = ("human", "mouse")

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
      track_ids: ``{name: identifier of every track of that head}`` where the model records
        them (a track model exported with its tracks.tsv identifiers).
      random_species_heads: the species heads (``human``/``mouse``) come from a randomly
        initialised baseline (export metadata ``baseline: random``, or ``random[:preset]``).
      modules: ``(enformer, payload model or None, track model or None)`` when the predictor
        runs Sonnet modules (not a SavedModel signature or TF Hub), else None.
      precision: the trunk's compute dtype, ``float32`` or ``bfloat16`` (outputs are float32).
    """

    def __init__(self, fn: Callable[[tf.Tensor], Dict[str, tf.Tensor]], input_length: int,
                 outputs: Dict[str, Optional[List[int]]], n_tracks: Dict[str, int], source: str,
                 missing: Sequence[str] = (), keep_alive: Any = None,
                 track_ids: Optional[Mapping[str, Sequence[str]]] = None, random_species_heads: bool = False,
                 modules: Optional[Tuple[Enformer, Optional[PayloadModel], Optional[TrackModel]]] = None,
                 precision: str = "float32"):
        self.input_length = int(input_length)
        self.precision = precision
        self.modules = modules
        self.outputs = outputs
        self.n_tracks = n_tracks
        self.source = source
        self.missing = tuple(missing)
        self.track_ids = {name: list(ids) for name, ids in (track_ids or {}).items()}
        self.random_species_heads = random_species_heads
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

    def track_labels(self, name: str) -> List[str]:
        """Identifier of each produced column of output ``name``.

        ``activity``; the recorded track identifier; else ``<head>-<index>`` (``mouse-10``,
        ``tracks-2``).
        """
        if name == ACTIVITY:
            return [ACTIVITY]
        columns = self.outputs[name]
        columns = list(columns) if columns is not None else list(range(self.n_tracks[name]))
        ids = self.track_ids.get(name)
        if ids is not None and len(ids) == self.n_tracks[name]:
            return [str(ids[c]) for c in columns]
        return [f"{name}-{c}" for c in columns]

    def trace_count(self) -> int:
        """How many times the function was traced (1 after any number of calls)."""
        return int(self._fn.experimental_get_tracing_count())


# --------------------------------------------------------------------------------------------
# Loading (sources are resolved and restored by trainer.checkpoints)
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
        chosen = length or DEFAULT_WINDOW_LENGTH
    elif length and length != model_length:
        raise InputError(f"{what} takes {model_length} bp windows; --length {length} does not match "
                         f"(omit --length or pass {model_length})")
    else:
        chosen = model_length
    check_length(chosen)
    return chosen


def _composite_fn(enformer: Any, payload: Optional[PayloadModel], track: Optional[TrackModel],
                  selection: Mapping[str, Any], precision: str = "float32"
                  ) -> Callable[[tf.Tensor], Dict[str, tf.Tensor]]:
    """Trunk once, then only the selected heads: ``[B, L, 4] -> {name: tensor}`` (float32).

    ``precision`` is the trunk's compute dtype (:func:`trainer.precision.step_scope`, read when
    the function is traced); every output is float32 either way.
    """
    species = [name for name in selection if name not in (ACTIVITY, TRACKS)]

    def fn(one_hot: tf.Tensor) -> Dict[str, tf.Tensor]:
        if not isinstance(enformer, Enformer):  # TF Hub model: predictions only, no trunk
            return dict(enformer(one_hot))
        with precision_lib.step_scope(precision, training=False):
            embedding = enformer.trunk(one_hot, is_training=False)
            out: Dict[str, tf.Tensor] = {}
            if species:
                out.update(enformer.apply_heads(embedding, heads=species))
            if ACTIVITY in selection:
                out[ACTIVITY] = tf.squeeze(payload.head(embedding), axis=-1)
            if TRACKS in selection:
                out[TRACKS] = track.head(embedding)
        return {name: tf.cast(value, tf.float32) for name, value in out.items()}

    return fn


def _species_tracks(enformer: Any) -> Dict[str, int]:
    if isinstance(enformer, Enformer):
        return dict(enformer.config.heads)
    return dict(REFERENCE_HEADS)  # TF Hub model: the published heads


def load_predictor(model: str, request: Request, length: Optional[int] = None, *,
                   baseline: Optional[str] = None, track_head: Optional[str] = None,
                   key_size: Optional[int] = None, value_size: Optional[int] = None,
                   num_heads: Optional[int] = None, strict: bool = True, prefer_modules: bool = False,
                   precision: str = "float32") -> Predictor:
    """Load ``model`` and compile a :class:`Predictor` for ``request``.

    Args:
      model: see the module docstring.
      request: ``{output: track columns or None}``, outputs among ``activity``, ``human``,
        ``mouse``, ``tracks``.
      length: window bp; None = the model's fixed length, else 25,600.
      baseline: what ``original`` stands for, and the trunk (and species heads) for checkpoints
        that do not carry them: a track-head checkpoint or a training checkpoint. Default
        ``$ENFORMERBASELINE``.
      track_head: a track-head checkpoint or exported track model (``tracks`` output); with a
        checkpoint, the trunk is ``model``'s.
      key_size, value_size, num_heads: payload head sizes for original checkpoints whose
        ``<model>.json`` is missing.
      strict: raise for requested outputs the model lacks (else they are listed in ``missing``).
      prefer_modules: rebuild an export from its weights (Sonnet modules, see
        :attr:`Predictor.modules`) whenever it carries them, not only when its signature lacks
        a requested output.
      precision: ``float32`` or ``bfloat16`` (the trunk's matmuls and convolutions; outputs stay
        float32). Only Sonnet modules can change precision: an export is then rebuilt from its
        weights, and a model served only through a fixed graph (an export without payload
        weights, TF Hub) is refused.
    """
    precision_lib.check_precision(precision)
    if track_head is not None:
        return _load_track_predictor(model, track_head, request, length, baseline, strict, precision)
    return _load_model_predictor(model, request, length, baseline, key_size, value_size, num_heads, strict,
                                 prefer_modules or precision != "float32", precision)


def _refuse_fixed_graph(what: str, precision: str) -> None:
    """A SavedModel signature or TF Hub model is a float32 graph: no other precision."""
    if precision != "float32":
        raise InputError(f"--precision {precision}: {what} is a fixed float32 graph without Sonnet weights to "
                         "rebuild the model from; predict it in float32")


def _load_model_predictor(model: str, request: Request, length: Optional[int], baseline: Optional[str],
                          key_size: Optional[int], value_size: Optional[int], num_heads: Optional[int],
                          strict: bool, prefer_modules: bool, precision: str) -> Predictor:
    """:func:`load_predictor` without a track head."""
    source = checkpoints.resolve_model(model, original=baseline)
    if source.kind is SourceKind.EXPORT:
        return _load_saved_model(source, request, length, strict, key_size, value_size, num_heads, prefer_modules,
                                 precision)
    if source.kind in checkpoints.TRACK_HEAD_KINDS:
        raise InputError(f"model {model!r} is a track head only: pass the trunk as MODEL (e.g. 'original') and "
                         f"this directory as --head {model}")
    if source.kind in checkpoints.PAYLOAD_KINDS:
        payload = checkpoints.load_payload_model(source, key_size, value_size, num_heads, input_length=length,
                                                 baseline=baseline)
        predictor = from_modules(payload.enformer, payload, None, request, length, strict, source.description,
                                 precision)
        # A training checkpoint takes its species heads from the baseline.
        predictor.random_species_heads = (source.kind is SourceKind.TRAINING_PAYLOAD and is_random(baseline))
        return predictor
    predictor = from_modules(checkpoints.load_trunk(source), None, None, request, length, strict, source.description,
                             precision)
    predictor.random_species_heads = source.kind is SourceKind.RANDOM
    return predictor


def is_random(spec: Optional[str]) -> bool:
    """True for ``random`` / ``random:<preset>`` (a baseline named as random weights)."""
    return bool(spec) and (spec == "random" or spec.startswith("random:"))


def _export_facts(metadata: Mapping[str, Any]) -> Tuple[Dict[str, List[str]], bool]:
    """``(track ids, random species heads)`` recorded in an export's metadata."""
    ids = {TRACKS: [str(t) for t in metadata["tracks"]]} if metadata.get("tracks") else {}
    baseline = metadata.get("baseline") or metadata.get("model_config", {}).get("baseline")
    return ids, is_random(baseline)


def from_modules(enformer: Any, payload: Optional[PayloadModel] = None, track: Optional[TrackModel] = None,
                 request: Request = None, length: Optional[int] = None, strict: bool = True,
                 source: str = "in-memory model", precision: Optional[str] = None) -> Predictor:
    """:class:`Predictor` over in-memory modules (``enformer`` may be the TF Hub wrapper).

    ``payload``/``track`` add the ``activity``/``tracks`` outputs on the same trunk; ``precision``:
    see :func:`load_predictor`, None = the Enformer's own ``compute_dtype`` (the TF Hub wrapper
    is a fixed float32 graph).
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
        length = length or DEFAULT_WINDOW_LENGTH
        enformer.output_bins(length)  # raises for windows the hub model cannot serve
    input_length = _fixed_length(length, model_length, source)
    modules = (enformer, payload, track) if isinstance(enformer, Enformer) else None
    if modules is None:
        _refuse_fixed_graph(source, precision or "float32")
        precision = "float32"
    precision = precision or enformer.compute_dtype.name
    fn = _composite_fn(enformer, payload, track, selection, precision)
    return Predictor(fn, input_length, selection, available, source, missing, keep_alive=(enformer, payload, track),
                     modules=modules, precision=precision)


def _signature_outputs(signature: Any) -> Dict[str, int]:
    return {name: (1 if spec.shape.rank == 1 else int(spec.shape[-1]))
            for name, spec in signature.structured_outputs.items()}


def _load_saved_model(source: ModelSource, request: Request, length: Optional[int], strict: bool,
                      key_size: Optional[int], value_size: Optional[int], num_heads: Optional[int],
                      prefer_modules: bool = False, precision: str = "float32") -> Predictor:
    """An export's ``predict_one_hot`` signature, or its payload weights when the signature lacks an
    output (or ``prefer_modules``)."""
    path = source.location
    metadata = export_lib.read_metadata(path)
    exported = set()
    for name in metadata.get("outputs", []):  # "heads" = an exported Enformer's species heads
        exported.update(metadata.get("enformer", {}).get("heads", {}) if name == "heads" else [name])
    wanted_missing = [name for name in request if exported and name not in exported]
    rebuild = bool(wanted_missing) or prefer_modules
    if rebuild and source.weights and checkpoints.checkpoint_kind(source.weights) is SourceKind.PAYLOAD:
        # A payload export serves only `activity`; its original-format weights also hold the
        # species heads, so rebuild the model from them (without loading the SavedModel at all).
        head = metadata.get("activity_head", {})
        LOG.info("%s: rebuilding the model from %s (%s)", path, source.weights,
                 f"signature lacks {wanted_missing}" if wanted_missing else "Sonnet modules requested")
        model_length = int(metadata["input_length"])
        payload = checkpoints.load_payload_model(
            source, key_size or head.get("key_size"), value_size or head.get("value_size"),
            num_heads or head.get("num_heads"), input_length=model_length)
        predictor = from_modules(payload.enformer, payload, None, request, length or model_length, strict,
                                 f"payload model {path} (weights)", precision)
        predictor.track_ids, predictor.random_species_heads = _export_facts(metadata)
        return predictor
    _refuse_fixed_graph(f"SavedModel {path}", precision)
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

    track_ids, random_heads = _export_facts(metadata)
    return Predictor(fn, input_length, selection, available, f"SavedModel {path}", missing, keep_alive=loaded,
                     track_ids=track_ids, random_species_heads=random_heads)


def _load_track_predictor(model: str, head: str, request: Request, length: Optional[int], baseline: Optional[str],
                          strict: bool, precision: str = "float32") -> Predictor:
    """``--head PATH``: an exported track model (used whole) or a head checkpoint on ``model``'s trunk."""
    head_source = checkpoints.resolve_model(head, what="--head")
    if head_source.kind is SourceKind.EXPORT:
        return _load_saved_model(head_source, request, length, strict, None, None, None)
    if head_source.kind not in checkpoints.TRACK_HEAD_KINDS:
        raise InputError(f"--head {head!r}: {head_source.description} is not a track head; expected 'human', "
                         "'mouse', 'finetune' or a track-head directory")
    trunk_source = checkpoints.resolve_model(model, original=baseline)
    if trunk_source.kind is SourceKind.EXPORT:
        raise InputError(f"--head {head} is a head checkpoint: MODEL must be a trunk checkpoint, 'original' or "
                         f"'random', not the SavedModel {trunk_source.location}")
    enformer = checkpoints.load_trunk(trunk_source, baseline=baseline)
    if not isinstance(enformer, Enformer):
        raise InputError("a track head needs the Sonnet trunk (checkpoint weights), not the TF Hub model")
    track = checkpoints.load_track_model(head_source, enformer)
    return from_modules(enformer, None, track, request, length, strict, f"track head {head}", precision)


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
