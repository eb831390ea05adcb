"""Typed loading of nested dataclasses from YAML mappings, with errors that name the key.

``load_dataclass(cls, mapping, where)`` builds ``cls`` from a plain mapping: unknown keys,
missing required keys and wrong types raise :class:`components.errors.InputError` naming the
dotted key path (``config.yaml: training.epochs: expected int, got 'ten'``). Supported field
types: ``int``, ``float``, ``bool``, ``str``, ``Optional[...]``, ``List[...]``, ``Dict[str, ...]``
and nested dataclasses.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import typing
from typing import Any, Dict, List, Mapping, Sequence, Type, TypeVar

from components.errors import InputError

T = TypeVar("T")


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _coerce(annotation: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Union:  # Optional[X], Union[int, float]
        if value is None and type(None) in arguments:
            return None
        inner = [a for a in arguments if a is not type(None)]
        for candidate in inner[:-1]:
            try:
                return _coerce(candidate, value, where)
            except InputError:
                continue
        return _coerce(inner[-1], value, where)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: expected a mapping of {_field_list(annotation)}, got {value!r}")
        return load_dataclass(annotation, value, where)
    if origin in (list, List, collections.abc.Sequence) and not isinstance(value, str):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: expected a list, got {value!r}")
        return [_coerce(arguments[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin in (dict, Dict, collections.abc.Mapping):
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _coerce(arguments[1], v, f"{where}.{k}") for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise InputError(f"{where}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InputError(f"{where}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise InputError(f"{where}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise InputError(f"{where}: expected a string, got {value!r}")
    if annotation is Any:
        return value
    raise TypeError(f"unsupported config field type {annotation!r} at {where}")


def _field_list(cls: type) -> str:
    return ", ".join(field.name for field in dataclasses.fields(cls))


def load_dataclass(cls: Type[T], mapping: Mapping[str, Any], where: str) -> T:
    """Build dataclass ``cls`` from ``mapping``; ``where`` prefixes error messages."""
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise InputError(f"{where}.{unknown[0]}: unknown key; expected one of: {_field_list(cls)}")
    values = {}
    for name, field in fields.items():
        key_path = f"{where}.{name}"
        if name in mapping:
            values[name] = _coerce(hints[name], mapping[name], key_path)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise InputError(f"{key_path}: required key is missing")
    instance = cls(**values)
    validate = getattr(instance, "validate", None)
    if validate is not None:
        validate(where)
    return instance


def apply_override(mapping: Dict[str, Any], assignment: str, where: str = "--set") -> None:
    """Apply ``a.b.c=value`` (value parsed as YAML) to a nested plain mapping, in place."""
    import yaml

    if "=" not in assignment:
        raise InputError(f"{where} {assignment!r}: expected KEY=VALUE, e.g. training.epochs=3")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = mapping
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InputError(f"{where} {assignment!r}: {part} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(raw)


def check_keyword_arguments(function: Any, mapping: Mapping[str, Any], where: str, skip: Sequence[str] = ()) -> Dict[str, Any]:
    """Validate ``mapping`` as keyword arguments of ``function`` (e.g. a component constructor).

    Unknown keys and missing required arguments raise :class:`InputError` naming the key; values
    are coerced to the annotated parameter types. ``skip`` names parameters the caller fills.
    """
    import inspect

    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    accepted = [name for name, p in signature.parameters.items() if name not in ("self",) + tuple(skip)
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(mapping) - set(accepted))
    if unknown:
        raise InputError(f"{where}.{unknown[0]}: unknown key; expected one of: {', '.join(accepted)}")
    values: Dict[str, Any] = {}
    for name in accepted:
        parameter = signature.parameters[name]
        if name in mapping:
            values[name] = _coerce(hints.get(name, Any), mapping[name], f"{where}.{name}")
        elif parameter.default is inspect.Parameter.empty:
            raise InputError(f"{where}.{name}: required key is missing")
    return values
