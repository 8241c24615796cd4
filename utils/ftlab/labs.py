"""The course's labs, found by folder. A lab is ``labs/NN_topic/`` holding

* ``NN_topic.ipynb``: the notebook, committed with outputs stripped;
* ``lab.py``: that lab's own pieces (its exercise checkers, its knob, its outcome ``THRESHOLDS`` per profile),
  imported by the notebook as ``import lab``;
* ``solution.py``: every exercise of the lab solved, linked from each exercise.

Tests, the outcome grid (``benchmarks/outcomes.py``) and the docs checks call ``discover``: adding a lab is its
folder, a README row and its module guide. ``python -m ftlab labs`` lists every lab with its pieces.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ftlab.paths import REPO_ROOT

LABS_DIR = REPO_ROOT / "labs"
FOLDER = re.compile(r"(\d\d)_[a-z0-9_]+")
EXERCISE = re.compile(r"^#+ Exercise \d.*$", re.M)


@dataclass(frozen=True)
class Lab:
    """One lab folder and the paths of its pieces."""

    folder: Path

    @property
    def number(self) -> str:
        """``"03"``: the lab's place in the walk, and the prefix of its outcome keys (``03.accuracy_gain``)."""
        return self.folder.name[:2]

    @property
    def name(self) -> str:
        """``"03_lora_sft"``: the folder's name, which the notebook shares."""
        return self.folder.name

    @property
    def notebook(self) -> Path:
        return self.folder / f"{self.name}.ipynb"

    @property
    def module_path(self) -> Path:
        return self.folder / "lab.py"

    @property
    def solution_path(self) -> Path:
        return self.folder / "solution.py"

    def title(self) -> str:
        """The notebook's first heading: ``Lab 03 — LoRA fine-tuning with TRL``."""
        first = "".join(self.cells("markdown")[0]["source"]).splitlines()[0]
        return first.lstrip("#").strip()

    def cells(self, kind: str | None = None) -> list[dict]:
        """The notebook's cells (only those of ``kind``, ``"code"`` or ``"markdown"``, if given)."""
        cells = json.loads(self.notebook.read_text(encoding="utf-8"))["cells"]
        return [cell for cell in cells if kind is None or cell["cell_type"] == kind]

    def exercises(self) -> list[str]:
        """The notebook's exercise headings, in order."""
        return [m.group(0).lstrip("#").strip() for cell in self.cells("markdown")
                for m in EXERCISE.finditer("".join(cell["source"]))]

    def module(self) -> ModuleType | None:
        """``lab.py`` loaded as ``ftlab_lab_NN`` (once per process), or None if the lab has none."""
        return _load(self.module_path, f"ftlab_lab_{self.number}") if self.module_path.is_file() else None

    def solution(self) -> ModuleType | None:
        """``solution.py`` loaded as ``ftlab_solution_NN``, or None if the lab has none."""
        return _load(self.solution_path, f"ftlab_solution_{self.number}") if self.solution_path.is_file() else None


def _load(path: Path, name: str) -> ModuleType:
    """The module at ``path`` under ``name``; the same module object for the same file, however often asked."""
    key = f"{name}_{abs(hash(str(path.resolve()))):x}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module  # before exec: dataclasses in the module look themselves up here
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[key]
            raise
    return sys.modules[key]


def beside(test_file: str | Path) -> tuple[ModuleType | None, ModuleType | None]:
    """``lab.py`` and ``solution.py`` of the lab folder holding ``test_file``: a lab's own tests start with
    ``lab, solution = labs.beside(__file__)``."""
    lab = Lab(Path(test_file).resolve().parent)
    return lab.module(), lab.solution()


def discover(root: Path = LABS_DIR) -> list[Lab]:
    """Every lab under ``root``, in walk order: each folder named ``NN_topic`` that holds ``NN_topic.ipynb``."""
    labs = [Lab(folder) for folder in sorted(root.iterdir()) if folder.is_dir() and FOLDER.fullmatch(folder.name)
            and (folder / f"{folder.name}.ipynb").is_file()]
    numbers = [lab.number for lab in labs]
    doubled = sorted({n for n in numbers if numbers.count(n) > 1})
    if doubled:
        raise ValueError(f"{root}: two lab folders share the number(s) {', '.join(doubled)}; each lab needs its own")
    return labs


def get(number: str, root: Path = LABS_DIR) -> Lab:
    """The lab numbered ``number`` (``"03"``); an unknown number is an error that lists the known ones."""
    found = {lab.number: lab for lab in discover(root)}
    if number not in found:
        raise ValueError(f"no lab {number!r} under {root}; the labs are {', '.join(found)}")
    return found[number]


def describe(root: Path = LABS_DIR) -> str:
    """One block per lab: its folder, title and pieces (checkers, knob, thresholds, exercises, solution)."""
    blocks = []
    for lab in discover(root):
        module = lab.module()
        names = sorted(vars(module)) if module else []
        checkers = [n for n in names if n.startswith("check_") and callable(getattr(module, n))]
        knobs = [n for n in names if n.endswith(("_explorer", "_playground")) or n == "chat_vs_plain"]
        thresholds = getattr(module, "THRESHOLDS", {})
        lines = [f"{lab.folder.relative_to(root.parent)}/  {lab.title()}",
                 f"  notebook   {lab.notebook.name}",
                 f"  exercises  {len(lab.exercises())}; solution: "
                 + ("solution.py" if lab.solution_path.is_file() else "—"),
                 f"  checkers   {', '.join(checkers) or '—'}",
                 f"  widget     {', '.join(knobs) or '—'}",
                 "  thresholds " + ("; ".join(f"{profile}: {len(table)}" for profile, table in thresholds.items())
                                    or "none")]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
