"""ftlab.profiles and ftlab.hardware: selection, real-hardware configs, the environment report's warnings.

The hardware is faked both ways (``cpu_only``, ``fake_gpu``), so these tests pass on a CPU and on a GPU machine;
``test_passes_with_a_gpu_visible`` runs this file again with a GPU faked for the whole session.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fake_gpu import fake_gpu

from ftlab import hardware, profiles

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def cpu_only(monkeypatch):
    """This machine as a CPU-only one, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_env_variable_selects_profile(monkeypatch):
    monkeypatch.setenv("FTLAB_PROFILE", "spark")
    assert profiles.current().name == "spark"
    monkeypatch.setenv("FTLAB_PROFILE", "nope")
    with pytest.raises(ValueError, match="unknown profile 'nope'.*known profiles: toy, cpu, gpu24, spark"):
        profiles.current()


def test_cpu_machine_detects_toy(monkeypatch, cpu_only):
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    assert hardware.device() == "cpu"
    assert profiles.current().name == "toy" and profiles.current().is_toy


@pytest.mark.parametrize("name", ["gpu24", "spark"])
def test_gpu_profiles_name_hub_models_with_ungated_alternatives(name):
    p = profiles.get(name)
    assert not p.is_toy and p.dtype == "bfloat16"
    for gated, ungated in [(p.model, p.model_ungated), (p.qlora_model, p.qlora_model_ungated)]:
        assert gated.count("/") == 1 and ungated.count("/") == 1
        assert gated.startswith("meta-llama/") and not ungated.startswith("meta-llama/")


@pytest.mark.parametrize("name", list(profiles.PROFILES))
def test_ftlab_ungated_resolves_both_roles_once(monkeypatch, name):
    """FTLAB_UNGATED=1 is applied in current(): every role, and everything that reads the profile, gets it."""
    monkeypatch.setenv("FTLAB_PROFILE", name)
    monkeypatch.setenv("FTLAB_UNGATED", "1")
    p, spec = profiles.current(), profiles.get(name)
    assert p.ungated and (p.model_for("base"), p.model_for("qlora")) == (spec.model_ungated, spec.qlora_model_ungated)
    monkeypatch.setenv("FTLAB_UNGATED", "0")
    p = profiles.current()
    assert not p.ungated and (p.model_for("base"), p.model_for("qlora")) == (spec.model, spec.qlora_model)
    monkeypatch.setenv("FTLAB_UNGATED", "yes")
    with pytest.raises(ValueError, match="FTLAB_UNGATED must be 1"):
        profiles.current()
    with pytest.raises(ValueError, match="unknown model role 'large'"):
        p.model_for("large")


def test_cpu_profile_is_chosen_by_name_only(monkeypatch, cpu_only):
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    assert profiles.current().name == "toy"
    monkeypatch.setenv("FTLAB_PROFILE", "cpu")
    p = profiles.current()
    assert p.model == p.qlora_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and p.dtype == "float32"


@pytest.mark.parametrize(("name", "total_gib", "capability", "integrated", "expected"), [
    ("NVIDIA GB10", 119.7, (12, 1), True, "spark"),
    ("NVIDIA GeForce RTX 4090", 24, (8, 9), False, "gpu24"),
    ("NVIDIA H100 80GB HBM3", 80, (9, 0), False, "gpu24"),
    ("NVIDIA GeForce RTX 4060", 8, (8, 9), False, "toy"),
])
def test_gpu_machines_detect_their_profile(monkeypatch, name, total_gib, capability, integrated, expected):
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    fake_gpu(monkeypatch, name, total_gib, capability, integrated)
    assert hardware.device() == "cuda" and profiles.detect() == expected
    assert hardware.is_unified_memory() == integrated
    assert hardware.compute_dtype("bfloat16") == torch.bfloat16
    info = hardware.report()
    assert (info["GPU"], info["compute capability"]) == (name, f"{capability[0]}.{capability[1]}")


def test_peak_bf16_table():
    assert hardware.peak_bf16_tflops("NVIDIA H100 80GB HBM3") == 989
    assert hardware.peak_bf16_tflops("NVIDIA GB10") == 125
    assert hardware.peak_bf16_tflops("NVIDIA GeForce RTX 4090") is None and hardware.peak_bf16_tflops(None) is None


def test_passes_with_a_gpu_visible():
    """``make test`` on a GPU machine: this file again, with a GPU visible to the whole session."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", str(Path(__file__)), "-p", "fake_gpu", "-q",
                             "-p", "no:cacheprovider", "-o", "addopts=", "-k", "not test_passes_with_a_gpu_visible"],
                            capture_output=True, text=True, env=env, cwd=TESTS.parent, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_cpu_dtype_and_memory(cpu_only):
    assert hardware.compute_dtype("bfloat16").is_floating_point
    assert str(hardware.compute_dtype("bfloat16")) == "torch.float32"  # CPU trains in fp32
    assert not hardware.is_unified_memory()
    assert 0 < hardware.free_memory_gb() <= hardware.total_memory_gb()


def test_report_lists_versions(cpu_only):
    info = hardware.report()
    assert info["device"] == "cpu" and info["torch"].startswith("2.") and info["trl"] and info["peft"]


GOOD = {"platform": "Linux x86_64", "device": "cuda", "torch CUDA": "13.0", "bf16": "True",
        "compute capability": "9.0", "bitsandbytes": "0.50.2", "transformers": "5.23.0", "peft": "0.21.2",
        "torchao": "0.17.0+git"}


@pytest.mark.parametrize(("change", "expected"), [
    ({"platform": "Linux aarch64", "bitsandbytes": "0.45.0"}, "no ARM64 CUDA build"),
    ({"compute capability": "12.1", "bitsandbytes": "0.48.0"}, "no code for GB10 (sm_121)"),
    ({"torch CUDA": None}, "CPU build"),
    ({"device": "cpu"}, "sees no GPU"),
    ({"bf16": "False"}, "no bfloat16"),
    ({"transformers": "4.57.0"}, "older than the course's pins"),
    ({"torchao": "0.14.0+git"}, "torchao 0.14.0+git is installed and PEFT 0.21.2 refuses"),
])
def test_known_problems_flag_bad_combinations(change, expected):
    assert hardware.known_problems(GOOD) == []
    problems = hardware.known_problems({**GOOD, **change})
    assert len(problems) == 1 and expected in problems[0]

