"""Typed settings (pydantic v2 dataclasses) with one-line errors that name the dotted key.

Every settings section of the project (pipeline YAML, trainer ``custom_config``, component
parameters) is a :func:`settings_dataclass`: a standard dataclass (``dataclasses.asdict``,
``==`` and ``replace`` keep working) whose constructor validates types, ranges and choices.
:func:`validate_settings` builds one from a plain mapping and turns a pydantic
``ValidationError`` into :class:`components.errors.InputError` with messages such as
``demo.yaml: training.epochs: must be >= 1, got 0``. Only pydantic and the standard library
are imported, so a config is checked in well under a second, before TensorFlow loads.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Annotated, Any, Dict, List, Mapping, Sequence, Tuple, Type, TypeVar, Union

import pydantic
from pydantic import BeforeValidator, ConfigDict, TypeAdapter, ValidationError


from components.errors import InputError

T = TypeVar("T")

# Unknown keys are errors; YAML numbers are accepted where a string is expected (``seed: 7``
# for a name, ``context: 1``), as the CLI accepts them.
SETTINGS_CONFIG = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


def settings_dataclass(cls: Type[T]) -> Type[T]:
    """Decorator: a validating dataclass that rejects unknown keys.

    Direct construction (``TrainingConfig(epochs=0)``) raises :class:`InputError` naming the
    key, like loading from a mapping does.
    """
    validated = pydantic.dataclasses.dataclass(config=SETTINGS_CONFIG)(cls)
    pydantic_init = validated.__init__

    @functools.wraps(pydantic_init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            pydantic_init(self, *args, **kwargs)
        except ValidationError as error:
            raise InputError(describe_validation_error(error, validated)) from None

    validated.__init__ = __init__  # type: ignore[misc]
    return validated


class KeyedValueError(ValueError):
    """Raised by a cross-field check; ``key`` is the offending key relative to the checked section."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _comma_separated(value: Any) -> Any:
    """``"chr19,chrX"`` (the CLI form) -> ``["chr19", "chrX"]``; lists pass through."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# A list of strings that also accepts one comma-separated string (``eval_chroms: chr19,chrX``).
CommaList = Annotated[List[str], BeforeValidator(_comma_separated, json_schema_input_type=Union[str, List[str]])]


def _field_names(cls: Any) -> List[str]:
    return [field.name for field in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []


def _section_class(root: Any, path: Sequence[Union[str, int]]) -> Any:
    """The dataclass reached from ``root`` by the string keys of ``path`` (None if not a dataclass)."""
    import typing

    cls = root
    for part in path:
        if not dataclasses.is_dataclass(cls) or not isinstance(part, str):
            return None
        hints = typing.get_type_hints(cls, include_extras=False)
        annotation = hints.get(part)
        if annotation is None:
            return None
        candidates = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
        cls = next((a for a in candidates if dataclasses.is_dataclass(a)), None)
    return cls


def _aliases(cls: Any) -> Dict[str, str]:
    """``{alias: field name}`` of a settings dataclass's fields declared with ``AliasChoices``."""
    aliases: Dict[str, str] = {}
    for name, info in (getattr(cls, "__pydantic_fields__", None) or {}).items():
        choices = getattr(info.validation_alias, "choices", None) or []
        aliases.update({choice: name for choice in choices if isinstance(choice, str) and choice != name})
    return aliases


def _describe(error: Dict[str, Any], root: Any) -> Tuple[str, str]:
    """``(dotted key, message)`` for one pydantic error dictionary."""
    loc = [part for part in error["loc"] if isinstance(part, (str, int))]
    kind, value, context = error["type"], error.get("input"), error.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, KeyedValueError):
        return ".".join(map(str, loc + [cause.key])), str(cause)
    key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        section = _section_class(root, loc[:-1])
        canonical = _aliases(section).get(str(loc[-1])) if loc else None
        if canonical:  # the alias came as well as the field's own name
            return key, f"is another name for {canonical}; give only one of them"
        expected = _field_names(section)
        return key, "unknown key" + (f"; expected one of: {', '.join(expected)}" if expected else "")
    if kind == "missing" or kind == "missing_argument":
        aliases = [alias for alias, name in _aliases(_section_class(root, loc[:-1])).items() if loc and name == loc[-1]]
        return key, "required key is missing" + (f" (also accepted as {', '.join(aliases)})" if aliases else "")
    if kind == "literal_error":
        return key, f"expected one of {context.get('expected')}, got {value!r}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        operator = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(context.values()))
        return key, f"must be {operator} {bound}, got {value!r}"
    if kind.startswith("int_"):
        return key, f"expected an integer, got {value!r}"
    if kind.startswith("float_"):
        return key, f"expected a number, got {value!r}"
    if kind.startswith("bool_"):
        return key, f"expected true/false, got {value!r}"
    if kind.startswith("string_"):
        return key, f"expected a string, got {value!r}"
    if kind in ("list_type", "tuple_type"):
        return key, f"expected a list, got {value!r}"
    if kind in ("dict_type", "dataclass_type", "model_type", "dataclass_exact_type"):
        expected = _field_names(_section_class(root, loc))
        return key, "expected a mapping" + (f" of {', '.join(expected)}" if expected else "") + f", got {value!r}"
    message = str(cause) if cause is not None else error["msg"]
    return key, message


def describe_validation_error(error: ValidationError, root: Any, where: str = "") -> str:
    """One line naming each failing dotted key once: ``where: a.b: message; c: message``."""
    seen: Dict[str, str] = {}
    for item in error.errors():
        key, message = _describe(item, root)
        seen.setdefault(key, message)
    line = "; ".join(f"{key}: {message}" if key else message for key, message in seen.items())
    return f"{where}: {line}" if where else line


def validate_settings(cls: Type[T], mapping: Mapping[str, Any], where: str = "") -> T:
    """Build settings dataclass ``cls`` from ``mapping``; errors raise :class:`InputError`."""
    if not isinstance(mapping, Mapping):
        raise InputError(f"{where}: expected a mapping of {', '.join(_field_names(cls))}, got {mapping!r}")
    try:
        return TypeAdapter(cls).validate_python(dict(mapping))
    except ValidationError as error:
        raise InputError(describe_validation_error(error, cls, where)) from None


def build_settings(cls: Type[T], where: str = "", **values: Any) -> T:
    """``cls(**values)`` with :class:`InputError` (naming the key) instead of ``ValidationError``."""
    return validate_settings(cls, values, where)


def field_default(cls: Any, name: str) -> Any:
    """The default of field ``name`` of a settings dataclass (CLI flags reuse it: one source)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return getattr(field.default, "default", field.default)  # unwrap pydantic Field(default=...)


def json_schema(cls: Any) -> Dict[str, Any]:
    """JSON schema of a settings dataclass (for editors: YAML language servers read it)."""
    return TypeAdapter(cls).json_schema()
