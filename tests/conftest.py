"""Test-wide settings: no hub access (an accidental download fails loudly) and the toy profile by default."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("FTLAB_PROFILE", "toy")
