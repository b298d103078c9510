"""Where cached embeddings and shared data live (environment overrides, project defaults)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def default_cache_dir() -> Path:
    """``$AGILE_CACHE_DIR`` or ``<project root>/var/cache`` (gitignored)."""
    return Path(os.environ.get("AGILE_CACHE_DIR") or PROJECT_ROOT / "var" / "cache")


def shared_data_dir() -> Path:
    """``$AGILE_SHARED_DATA`` or ``<project root>/../shared/data`` (read in place, never copied)."""
    return Path(os.environ.get("AGILE_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data")
