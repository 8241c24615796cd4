"""Docs and notebooks: every relative link and #anchor resolves; notebooks are committed clean."""

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from ftlab import labs

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", ".git", "outputs", "node_modules"}
MARKDOWN = sorted(p for p in ROOT.rglob("*.md") if not SKIP & set(p.relative_to(ROOT).parts))
NOTEBOOKS = [lab.notebook for lab in labs.discover(ROOT / "labs")]
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower-case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def markdown_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def anchors_of(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", markdown_of(path), flags=re.S)
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, flags=re.M):
        slug = github_anchor(heading)
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_github_anchor_rules():
    assert github_anchor("Which profile am I on, and how do I change it?") == \
        "which-profile-am-i-on-and-how-do-i-change-it"
    assert github_anchor("ValueError: Cannot use ... tokenizer.chat_template is not set") == \
        "valueerror-cannot-use--tokenizerchat_template-is-not-set"


@pytest.mark.parametrize("path", MARKDOWN + NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    text = re.sub(r"```.*?```", "", markdown_of(path), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto: — not checked offline
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix in {".md", ".ipynb"} and anchor not in anchors_of(destination):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    assert path.name == f"{path.parent.name}.ipynb", "a lab's notebook is named after its folder, NN_topic"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert notebook["metadata"]["kernelspec"]["language"] == "python"
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"cell {i} has outputs"
    assert not re.search(r"hf_[A-Za-z0-9]{30,}", path.read_text(encoding="utf-8")), "looks like a Hub token"


def test_every_lab_links_to_faq_or_troubleshooting():
    for path in NOTEBOOKS:
        assert re.search(r"\]\(\.\./\.\./(FAQ|TROUBLESHOOTING)\.md", markdown_of(path)), path.name


def test_faq_or_troubleshooting_links_back_to_every_lab():
    pages = (ROOT / "FAQ.md").read_text(encoding="utf-8") + (ROOT / "TROUBLESHOOTING.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        link = f"(labs/{path.parent.name}/{path.name}"
        assert link in pages, f"neither FAQ.md nor TROUBLESHOOTING.md links to {path.name}"
