"""Small JavaScript behaviours Lighthouse CI relies on, reproduced exactly."""

from __future__ import annotations

import math
import re
from typing import Any

_CAMEL_BOUNDARY = re.compile(r"([a-z])([A-Z])")
_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+", re.IGNORECASE)


def kebab_case(text: str, *, alphanumeric_only: bool = False) -> str:
    """@lhci/utils ``kebabCase``: ``firstContentfulPaint`` -> ``first-contentful-paint``."""
    kebabed = _CAMEL_BOUNDARY.sub(r"\1-\2", text)
    if alphanumeric_only:
        kebabed = _NON_ALPHANUMERIC.sub("-", kebabed)
        kebabed = re.sub(r"-+", "-", kebabed)
        kebabed = re.sub(r"(^-|-$)", "", kebabed)
    return kebabed.lower()


def merge(base: Any, override: Any) -> Any:
    """@lhci/utils ``merge``: objects key by key, arrays index by index, else the override."""
    if isinstance(base, list):
        if not isinstance(override, list):
            return override
        for i in range(max(len(base), len(override))):
            if i < len(override):
                value = merge(base[i] if i < len(base) else None, override[i])
                if i < len(base):
                    base[i] = value
                else:
                    base.append(value)
        return base
    if isinstance(base, dict):
        if not isinstance(override, dict):
            return override
        for key in list(dict.fromkeys([*base, *override])):
            if key in override:
                base[key] = merge(base.get(key), override[key])
        return base
    return override


def is_finite_number(value: object) -> bool:
    """``typeof x === 'number' && Number.isFinite(x)`` (JSON booleans are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def truthy(value: object) -> bool:
    """JavaScript truthiness of a JSON value: ``{}`` and ``[]`` are true, ``0`` and ``""`` not."""
    if isinstance(value, dict | list):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)
