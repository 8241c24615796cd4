"""Labs are found by folder: a new ``labs/NN_topic/`` is picked up by nbval, the exercise tests, the docs checks, its
own tests and the outcome grid with no other edit; ``python -m ftlab labs`` lists it; ``ftlab`` has no import cycle."""

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftlab import labs, outcomes

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "utils" / "ftlab"
NEW = "12_throwaway"


def imports_at_load(module: Path) -> set[str]:
    """The ``ftlab`` modules ``module`` imports when it is loaded (top level, not inside functions)."""
    found = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ftlab"):
            found |= {node.module} if node.module != "ftlab" else {f"ftlab.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("ftlab.")}
    return {name for name in found if (PACKAGE / f"{name.removeprefix('ftlab.')}.py").is_file()}


def test_ftlab_has_no_import_cycle():
    graph = {f"ftlab.{path.stem}": imports_at_load(path) for path in PACKAGE.glob("*.py")}

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for successor in sorted(graph.get(path[-1], ())):
            if successor == start:
                return [*path, start]
            if successor not in path:
                found = cycle_from(start, [*path, successor])
                if found:
                    return found
        return None

    cycles = [cycle for module in sorted(graph) if (cycle := cycle_from(module, [module]))]
    assert not cycles, f"import cycle: {' -> '.join(cycles[0])}"


def test_no_function_imports_its_way_around_a_cycle():
    """A cycle hidden by importing inside a function (``models`` <-> ``pypi_model`` did) counts too."""
    for path in PACKAGE.glob("*.py"):
        late = {node.module for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ftlab.")
                and node.col_offset > 0}
        for module in late:
            other = PACKAGE / f"{module.removeprefix('ftlab.')}.py"
            assert f"ftlab.{path.stem}" not in imports_at_load(other), f"{path.stem} <-> {module}"


def throwaway_lab(folder: Path) -> None:
    """A minimal lab: a notebook with two exercises (one in code), its module with a checker and a threshold, its
    solution and its own test."""
    def cell(kind: str, text: str) -> dict:
        extra = {"execution_count": None, "outputs": []} if kind == "code" else {}
        return {"cell_type": kind, "id": f"c{abs(hash(text)) % 10**8}", "metadata": {}, "source": [text], **extra}

    folder.mkdir()
    notebook = {"cells": [
        cell("markdown", "# Lab 12 — Throwaway\n\n[FAQ](../../FAQ.md)"),
        cell("code", "import lab\n\nlab.check_double(lambda x: 2 * x)"),
        cell("markdown", "### Exercise 1 (easy, code) — double it\n\nSolution: [`solution.py`](solution.py)"),
        cell("markdown", "### Exercise 2 (easy) — again\n\nSolution: [`solution.py`](solution.py)"),
        cell("markdown", "## Recap\n\nNothing.")],
        "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
        "nbformat": 4, "nbformat_minor": 5}
    (folder / f"{NEW}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    (folder / "lab.py").write_text(
        "from ftlab.checks import Feedback, call_safely, code_checker\nfrom ftlab.outcomes import Expectation\n\n\n"
        "@code_checker\ndef check_double(double):\n    result, stop = call_safely(double, 'double', 3)\n"
        "    return stop or Feedback(result == 6, 'twice 3 is 6')\n\n\n"
        "THRESHOLDS = {'toy': {'doubled': Expectation('twice 3', at_least=6)}}\n", encoding="utf-8")
    (folder / "solution.py").write_text("def double(x):\n    return 2 * x\n", encoding="utf-8")
    (folder / f"test_{NEW}.py").write_text("def test_it():\n    assert True\n", encoding="utf-8")


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Path:
    """The labs, tests, benchmarks and pytest settings copied, with the throwaway lab added to the copy only."""
    copy = tmp_path_factory.mktemp("course")
    for part in ("labs", "tests", "benchmarks"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for page in ("pyproject.toml", *(path.name for path in ROOT.glob("*.md"))):
        shutil.copy2(ROOT / page, copy / page)
    throwaway_lab(copy / "labs" / NEW)
    return copy


def test_a_new_lab_folder_is_collected_everywhere_without_another_edit(course_copy):
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                "labs", "tests/test_exercises.py", "tests/test_docs.py"],
                               cwd=course_copy, capture_output=True, text=True, timeout=600)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    ids = collected.stdout.splitlines()
    wanted = {"nbval": f"labs/{NEW}/{NEW}.ipynb::", "its own tests": f"labs/{NEW}/test_{NEW}.py::test_it",
              "exercise tests": f"tests/test_exercises.py::test_every_exercise_links_to_the_solution[{NEW}]",
              "code checkers": "tests/test_exercises.py::test_any_answer_gets_feedback_not_a_traceback[None-check_doub",
              "docs: links": f"tests/test_docs.py::test_relative_links_resolve[labs/{NEW}/{NEW}.ipynb]",
              "docs: committed clean": f"tests/test_docs.py::test_notebook_is_committed_clean[{NEW}.ipynb]"}
    missing = {what: prefix for what, prefix in wanted.items() if not any(i.startswith(prefix) for i in ids)}
    assert not missing, missing


def test_a_new_lab_joins_the_outcome_grid_and_the_listing(course_copy):
    grid = subprocess.run([sys.executable, "-c", "import outcomes; print(outcomes.lab_numbers())"],
                          cwd=course_copy / "benchmarks", capture_output=True, text=True, timeout=120)
    assert grid.returncode == 0, grid.stderr[-3000:]
    assert "'12'" in grid.stdout
    assert "12.doubled" in outcomes.expectations(course_copy / "labs")["toy"]
    assert f"labs/{NEW}/  Lab 12 — Throwaway" in labs.describe(course_copy / "labs")


def test_python_m_ftlab_labs_lists_every_folder():
    listing = subprocess.run([sys.executable, "-m", "ftlab", "labs"], capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0, listing.stderr[-3000:]
    for lab in labs.discover(ROOT / "labs"):
        assert f"labs/{lab.name}/  {lab.title()}" in listing.stdout


def test_two_folders_with_one_number_are_refused(tmp_path):
    for name in ("05_one", "05_two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.ipynb").write_text("{}")
    with pytest.raises(ValueError, match="share the number"):
        labs.discover(tmp_path)
