"""The profile is resolved once: the ungated choice and each model role reach every loader and lab."""

import json
from pathlib import Path

from ftlab import models, profiles, sft

ROOT = Path(__file__).resolve().parents[1]


def test_the_resolved_profile_reaches_every_loader(monkeypatch):
    """Models come from ``profile.model_for(role)`` only: with FTLAB_UNGATED=1 every loader gets the ungated ids,
    and nothing but profiles.py reads the ``*_ungated`` fields (nothing downstream re-derives the choice)."""
    monkeypatch.setenv("FTLAB_PROFILE", "gpu24")
    monkeypatch.setenv("FTLAB_UNGATED", "1")
    p = profiles.current()
    assert models.resolve(p) == "Qwen/Qwen2.5-3B-Instruct" and models.resolve(p, "qlora") == "Qwen/Qwen2.5-7B-Instruct"
    assert sft._base_identity(p) == "Qwen/Qwen2.5-3B-Instruct"
    readers = [path for path in [*(ROOT / "utils" / "ftlab").glob("*.py"), *(ROOT / "labs").glob("*/*.ipynb")]
               if "_ungated" in path.read_text() and path.name != "profiles.py"]
    assert readers == []


def test_lab_04_qlora_arm_loads_the_qlora_role():
    cells = json.loads((ROOT / "labs" / "04_qlora" / "04_qlora.ipynb").read_text())["cells"]
    source = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert 'models.load(profile, role="qlora" if quantization else "base", quantization_config=quantization)' in source
