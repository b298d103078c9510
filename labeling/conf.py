"""App defaults in one namespaced dict (``settings.AGILE``), read through one object."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "BROKEN_REPORTS_TO_FLAG": 2,
    "EXPERT_PRICE_PER_LABEL": "1.00",
}


class _AgileSettings:
    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown Agile Labeling setting {name!r}")
        return getattr(settings, "AGILE", {}).get(name, DEFAULTS[name])


agile = _AgileSettings()
