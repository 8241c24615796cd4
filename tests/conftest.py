"""Test-wide settings: no hub access (an accidental download fails loudly) and the toy profile by default."""

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("FTLAB_PROFILE", "toy")


@pytest.fixture(scope="session")
def course_requirements():
    """containers/course_requirements.py as a module (it is a script, not part of the ftlab package)."""
    spec = importlib.util.spec_from_file_location("course_requirements", ROOT / "containers" / "course_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
