#!/usr/bin/env python3
"""The course's pins for an NGC PyTorch image, and the least relaxation of NVIDIA's pip constraints they need.

Used by containers/Dockerfile at build time; standard library only (it runs on the image's Python 3.12).

``requirements``  prints ``name==version`` lines taken from ``[project].dependencies`` in pyproject.toml (the
                  course's single source of truth), plus the named packages of the optional extras asked for
                  with ``--with``. torch is refused: inside an NGC container the image's torch is the one used.
``relax``         NGC images pin every package they ship in ``/etc/pip/constraint.txt`` (``PIP_CONSTRAINT``).
                  This comments out only the constraint lines that conflict with the course: first those for a
                  package the course pins at another version, then each line pip's resolver names as a conflict
                  (``pip install --dry-run``), one at a time. torch and its companions are never relaxed: a pin
                  that needs another torch stops the build with a message instead.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

PROTECTED = ("torch", "torchvision", "torchaudio", "triton", "pytorch-triton")  # and any other torch* package
MARK = "# relaxed for the Fine-Tuning Lab"
MAX_ROUNDS = 25
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
CONFLICT = re.compile(r"The user requested \(constraint\) ([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_protected(name: str) -> bool:
    """True for torch and the packages built with it, whose image pins are never relaxed."""
    name = canonical(name)
    return name in PROTECTED or name.startswith("torch")


def pins(requirements: list[str]) -> dict[str, str]:
    """``{canonical name: version}`` for exact pins; anything else is an error (the course pins exactly)."""
    pinned = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)\s*", requirement)
        if not match:
            raise SystemExit(f"error: {requirement!r} is not an exact pin (name==version) in pyproject.toml")
        pinned[canonical(match.group(1))] = match.group(2)
    return pinned


def course_requirements(pyproject: Path, extra_packages: Sequence[str] = ()) -> list[str]:
    """The course's ``name==version`` lines for the container; torch is an error."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    core = pins(project["dependencies"])
    extras: dict[str, str] = {}
    for group in project.get("optional-dependencies", {}).values():
        extras.update(pins(group))
    for name in map(canonical, extra_packages):
        if name not in extras:
            raise SystemExit(f"error: --with {name}: no such package in pyproject.toml's optional dependencies")
        core[name] = extras[name]
    torch_like = sorted(name for name in core if is_protected(name))
    if torch_like:
        raise SystemExit(f"error: {', '.join(torch_like)} must not be installed in an NGC container: "
                         "the image's torch is the one the course uses")
    return [f"{name}=={version}" for name, version in core.items()]


def constraint_name(line: str) -> str | None:
    """The package a constraint line pins, or None for comments and blank lines."""
    if line.lstrip().startswith("#"):
        return None
    match = NAME.match(line)
    return canonical(match.group(1)) if match else None


def relax_line(lines: list[str], name: str, reason: str) -> list[str]:
    """``lines`` with every constraint on ``name`` commented out and marked with ``reason``."""
    if is_protected(name):
        raise SystemExit(f"error: the course's pins conflict with the image's {name} ({reason}); torch is never "
                         "replaced: lower the course pin that needs it, or choose another NGC image tag")
    out = []
    for line in lines:
        if constraint_name(line) == name:
            print(f"relaxing NGC constraint '{line.strip()}': {reason}")
            line = f"{MARK} ({reason}): {line.strip()}"
        out.append(line)
    return out


def relax_direct(lines: list[str], course: dict[str, str]) -> list[str]:
    """Relax the constraints on packages the course pins at a different version (same version: kept)."""
    for line in list(lines):
        name = constraint_name(line)
        if name in course and not re.search(rf"==\s*{re.escape(course[name])}\s*(;|$)", line.strip()):
            lines = relax_line(lines, name, f"the course pins {name}=={course[name]}")
    return lines


def conflicting_constraint(pip_output: str) -> str | None:
    """The constraint pip's resolver names in a conflict report (``The user requested (constraint) X==1``)."""
    match = CONFLICT.search(pip_output)
    return canonical(match.group(1)) if match else None


Runner = Callable[[], subprocess.CompletedProcess]


def pip_dry_run(requirements: Path) -> Runner:
    """A runner for ``pip install --dry-run -r requirements`` under the current ``PIP_CONSTRAINT``."""
    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "-r", str(requirements)],
                              capture_output=True, text=True, check=False)
    return run


def relax(constraint: Path, requirements: Path, dry_run: Runner | None = None) -> list[str]:
    """Relax ``constraint`` in place until pip can resolve ``requirements``; returns the relaxed package names."""
    if not constraint.is_file():
        print(f"no pip constraint file at {constraint}: nothing to relax")
        return []
    course = pins([line for line in requirements.read_text(encoding="utf-8").splitlines() if line.strip()])
    original = constraint.read_text(encoding="utf-8").splitlines()
    lines = relax_direct(original, course)
    constraint.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dry_run = dry_run or pip_dry_run(requirements)
    for _ in range(MAX_ROUNDS):
        result = dry_run()
        if result.returncode == 0:
            break
        output = result.stdout + result.stderr
        name = conflicting_constraint(output)
        if name is None or name not in {constraint_name(line) for line in lines}:
            raise SystemExit(f"error: pip cannot resolve the course's pins, and not because of a constraint "
                             f"line in {constraint}:\n{output}")
        lines = relax_line(lines, name, "pip's resolver reports it conflicts with the course's pins")
        constraint.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        raise SystemExit(f"error: still unresolved after relaxing {MAX_ROUNDS} constraints; giving up")
    relaxed = [constraint_name(line.split("): ", 1)[1]) for line in lines if line.startswith(MARK)]
    print(f"relaxed {len(relaxed)} of {sum(constraint_name(line) is not None for line in original)} NGC constraints: "
          f"{', '.join(relaxed) or 'none'}")
    return relaxed


def main(argv: list[str] | None = None) -> int:
    """Command line: ``requirements`` or ``relax`` (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    req = commands.add_parser("requirements", help="print the course's pins (no torch)")
    req.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    req.add_argument("--with", dest="extra_packages", action="append", default=[], metavar="PACKAGE",
                     help="also pin this package from the optional dependencies (repeatable)")
    rel = commands.add_parser("relax", help="relax only the NGC constraints that conflict with the course")
    rel.add_argument("--requirements", type=Path, required=True)
    rel.add_argument("--constraint", type=Path,
                     default=Path((os.environ.get("PIP_CONSTRAINT") or "/etc/pip/constraint.txt").split()[0]))
    args = parser.parse_args(argv)
    if args.command == "requirements":
        print("\n".join(course_requirements(args.pyproject, args.extra_packages)))
    else:
        relax(args.constraint, args.requirements)
    return 0


if __name__ == "__main__":
    sys.exit(main())
