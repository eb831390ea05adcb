"""JSON has no NaN or infinity: every report the project writes gives undefined numbers as null."""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf; NumPy floats included) replaced by
    ``None``, recursively through dicts, lists and tuples (tuples become lists); NumPy floats
    become Python floats, so ``json.dump`` takes the result as it is."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
