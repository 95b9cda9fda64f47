"""Lighthouse CI's assertion presets (``lighthouse:all``, ``:recommended``, ``:no-pwa``).

``presets.json`` is the data of @lhci/utils' ``src/presets`` (version named in the file),
exported unchanged so verdicts match ``lhci assert``.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any

PRESET_NAMES = ("lighthouse:all", "lighthouse:recommended", "lighthouse:no-pwa")


@cache
def _presets() -> dict[str, dict[str, Any]]:
    text = files("collector.budgets.lab").joinpath("presets.json").read_text()
    presets: dict[str, dict[str, Any]] = json.loads(text)["presets"]
    return presets


def preset_options(name: str) -> dict[str, Any] | None:
    """A deep copy of the named preset's options, or None if there is no such preset."""
    preset = _presets().get(name)
    return copy.deepcopy(preset) if preset is not None else None


@cache
def known_audit_ids() -> frozenset[str]:
    """Audit ids Lighthouse CI knows (the keys of ``lighthouse:all``)."""
    return frozenset(_presets()["lighthouse:all"]["assertions"])
