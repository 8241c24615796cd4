"""modules/: every Python block of every guide's quick reference runs on the toy profile (pinned versions)."""

import re
from pathlib import Path

import pytest

MODULES = sorted((Path(__file__).resolve().parents[1] / "modules").glob("[0-9]*.md"))


def quick_reference_blocks(path: Path) -> list[str]:
    """The ```python blocks under the guide's "Quick reference" heading."""
    text = path.read_text(encoding="utf-8")
    section = re.search(r"^## Quick reference.*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert section, f"{path.name} has no '## Quick reference' section"
    return re.findall(r"```python\n(.*?)```", section.group(), flags=re.S)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_quick_reference_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_OUTPUTS", str(tmp_path))  # examples that save write here, not into outputs/
    monkeypatch.chdir(tmp_path)  # and relative paths such as output_dir="out" land here too
    blocks = quick_reference_blocks(path)
    assert blocks, f"{path.name}: no python blocks in its quick reference"
    namespace: dict = {}
    for block in blocks:  # blocks of one guide share a namespace, like cells of a notebook
        exec(compile(block, f"{path.name} quick reference", "exec"), namespace)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_guide_has_objectives_and_plain_words(path):
    text = path.read_text(encoding="utf-8")
    assert "## Objectives" in text and "## In plain words" in text
