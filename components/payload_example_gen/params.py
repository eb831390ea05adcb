"""Parameter names and parsing shared by the PayloadExampleGen component, executor and CLI.

Kept free of TFX/TensorFlow imports so the CLI can parse arguments without loading them.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

from pydantic import Field, field_validator

from components.config_validation import settings_dataclass
from components.errors import InputError
from components.records import DEFAULT_WINDOW_LENGTH

# Execution-property keys added to TFX's FileBasedExampleGenSpec parameters.
PAYLOAD_FASTA_KEY = "payload_fasta"
ANNOTATION_BED_KEY = "annotation_bed"
REFERENCE_FASTA_KEY = "reference_fasta"
CONTEXT_KEY = "context"
CONSTRUCT_LENGTH_KEY = "construct_length"
WINDOW_LENGTH_KEY = "window_length"
SEED_KEY = "seed"
SPLIT_MODE_KEY = "split_mode"
RECORDS_PER_SHARD_KEY = "records_per_shard"

# Defaults mirror the original scripts: the model window plus 1,280 bp of room for random shifts.
DEFAULT_CONSTRUCT_LENGTH = DEFAULT_WINDOW_LENGTH + 1_280
DEFAULT_RECORDS_PER_SHARD = 1_000
DEFAULT_SEED = 5
DEFAULT_SPLIT_MODE = "payload"
DEFAULT_FOLDS: Tuple[Tuple[str, int], ...] = (("train", 8), ("eval", 2))

SPLIT_MODES = ("payload", "offsets")
_SPLIT_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]+$")

Folds = List[Tuple[str, int]]


# ``{SPAN}`` / ``{SPAN:N}`` (zero-padded to N digits) in input paths, TFX span syntax.
SPAN_TOKEN = re.compile(r"{SPAN(?::(\d+))?}")

KFOLD_PREFIX = "fold"


def kfold_folds(k: int) -> Folds:
    """``K`` equal folds ``fold0..fold{K-1}``: the payload split hash then gives every payload one
    fold that depends only on the seed and its name (adding payloads moves none)."""
    if k < 2:
        raise InputError(f"--kfolds must be >= 2, got {k}")
    return [(f"{KFOLD_PREFIX}{i}", 1) for i in range(k)]


def normalize_folds(folds: Union[None, Mapping[str, float], Sequence[str], Sequence[Tuple[str, float]]]) -> Folds:
    """Turn ``{"train": 8, "eval": 2}``, ``["train=8", "eval=2"]`` or pairs into ``[(name, weight)]``.

    Weights become positive integers (TFX hash buckets): integral values are kept, fractional
    ratios such as ``train=0.8 eval=0.2`` are scaled by 1,000 and rounded. Order is kept; it is
    the order of the hash-bucket ranges.
    """
    if folds is None:
        return list(DEFAULT_FOLDS)
    if isinstance(folds, Mapping):
        pairs = list(folds.items())
    else:
        pairs = []
        for item in folds:
            if isinstance(item, str):
                if "=" not in item:
                    raise InputError(f"folds: expected NAME=WEIGHT (e.g. train=8 eval=2), got {item!r}")
                key, value = item.split("=", 1)
                pairs.append((key.strip(), value.strip()))
            else:
                pairs.append(tuple(item))
    if not pairs:
        raise InputError("folds: at least one split is required, e.g. train=8 eval=2")
    weights: List[Tuple[str, float]] = []
    for name, value in pairs:
        if not _SPLIT_NAME_RE.match(str(name)):
            raise InputError(f"folds: split name {name!r} must be letters, digits, '_' or '-'")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise InputError(f"folds: weight of {name!r} must be a number, got {value!r}") from None
        if not weight > 0:
            raise InputError(f"folds: weight of {name!r} must be > 0, got {value!r}")
        weights.append((str(name), weight))
    names = [name for name, _ in weights]
    if len(set(names)) != len(names):
        raise InputError(f"folds: split names repeat: {names}")
    if all(float(w).is_integer() for _, w in weights):
        return [(name, int(w)) for name, w in weights]
    return [(name, max(1, int(round(w * 1000)))) for name, w in weights]


def split_input_path(path: str) -> Tuple[str, str]:
    """Split an activity-table path into TFX ``(input_base, pattern)``.

    ``input_base`` is the longest directory prefix free of placeholders (``{SPAN}``,
    ``{VERSION}``, ``{YYYY}``...) and glob characters; the rest is the split pattern TFX's
    span machinery matches, e.g. ``/data/assays/batch-{SPAN}/activity.tsv`` ->
    ``('/data/assays', 'batch-{SPAN}/activity.tsv')``.
    """
    parts = path.split("/")
    for index, part in enumerate(parts):
        if any(char in part for char in "{*?["):
            break
    else:
        index = len(parts) - 1
    base = "/".join(parts[:index]) or ("/" if path.startswith("/") else ".")
    pattern = "/".join(parts[index:])
    if not pattern:
        raise InputError(f"activity table {path!r}: expected a file path or pattern, not a directory")
    return base, pattern


def fill_span(path: str, span: int, version) -> str:
    """Replace ``{SPAN}``/``{SPAN:n}``/``{VERSION}`` in ``path`` like TFX fills the input pattern.

    Lets the payload FASTA and annotation BED live in the same per-batch directory as the
    activity table (``batch-{SPAN}/payloads.fa``).
    """
    def token(match: re.Match, value: int) -> str:
        width = match.group(1)
        return str(value).zfill(int(width)) if width else str(value)

    path = SPAN_TOKEN.sub(lambda m: token(m, span), path)
    if version is not None:
        path = re.sub(r"{VERSION(?::(\d+))?}", lambda m: token(m, version), path)
    return path


def has_placeholder(path: str) -> bool:
    return bool(re.search(r"{(SPAN|VERSION|YYYY|MM|DD)(:\d+)?}", path))


def folds_to_dict(folds: Folds) -> Dict[str, int]:
    return {name: weight for name, weight in folds}


@settings_dataclass
class PayloadParams:
    """The ``payloads:`` section of the pipeline config = keyword arguments of
    :class:`~components.payload_example_gen.component.PayloadExampleGen` (see its docstring);
    ``make-dataset`` flags take their defaults from here. ``folds`` accepts a mapping
    (``{train: 8, eval: 2}``), a list (``[train=8, eval=2]``) or the CLI string ``train=8 eval=2``.
    """

    activity_table: str
    payload_fasta: str
    reference_fasta: str
    context: str
    annotation_bed: Optional[str] = None
    construct_length: int = Field(default=DEFAULT_CONSTRUCT_LENGTH, ge=1)
    window_length: int = Field(default=DEFAULT_WINDOW_LENGTH, ge=1)
    seed: int = DEFAULT_SEED
    folds: Dict[str, int] = dataclasses.field(default_factory=lambda: dict(DEFAULT_FOLDS))
    split_mode: Literal[SPLIT_MODES] = DEFAULT_SPLIT_MODE  # type: ignore[valid-type]
    records_per_shard: int = Field(default=DEFAULT_RECORDS_PER_SHARD, ge=1)

    @field_validator("folds", mode="before", json_schema_input_type=Union[str, List[str], Dict[str, float]])
    @classmethod
    def _folds(cls, value: object) -> Dict[str, int]:
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        try:
            return folds_to_dict(normalize_folds(value))  # type: ignore[arg-type]
        except InputError as error:
            raise ValueError(str(error).removeprefix("folds: ")) from None
