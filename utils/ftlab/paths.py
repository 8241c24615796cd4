"""Where the course keeps things: the repository, its datasets and the on-disk cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS_DIR = REPO_ROOT / "datasets"


def cache_dir() -> Path:
    """The course cache: ``$FTLAB_CACHE`` if set, else ``~/.cache/ftlab``."""
    return Path(os.environ.get("FTLAB_CACHE", Path.home() / ".cache" / "ftlab")).expanduser()


def outputs_dir() -> Path:
    """Where labs write adapters and exports for later labs: ``$FTLAB_OUTPUTS`` or ``<repo>/outputs``."""
    return Path(os.environ.get("FTLAB_OUTPUTS", REPO_ROOT / "outputs")).expanduser()
