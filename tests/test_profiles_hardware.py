"""ftlab.profiles and ftlab.hardware: selection, real-hardware configs, the environment report's warnings."""

import pytest

from ftlab import hardware, profiles


def test_env_variable_selects_profile(monkeypatch):
    monkeypatch.setenv("FTLAB_PROFILE", "spark")
    assert profiles.current().name == "spark"
    monkeypatch.setenv("FTLAB_PROFILE", "nope")
    with pytest.raises(ValueError, match="unknown profile 'nope'.*known profiles: toy, gpu24, spark"):
        profiles.current()


def test_cpu_machine_detects_toy(monkeypatch):
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    assert hardware.device() == "cpu"
    assert profiles.current().name == "toy" and profiles.current().is_toy


@pytest.mark.parametrize("name", [n for n in profiles.PROFILES if n != "toy"])
def test_real_profiles_name_hub_models_with_ungated_alternatives(name):
    p = profiles.get(name)
    assert not p.is_toy and p.dtype == "bfloat16"
    for gated, ungated in [(p.model_id(), p.model_id(gated_ok=False)),
                           (p.qlora_model_id(), p.qlora_model_id(gated_ok=False))]:
        assert gated.count("/") == 1 and ungated.count("/") == 1
        assert gated.startswith("meta-llama/") and not ungated.startswith("meta-llama/")


def test_every_profile_states_lab_01_time():
    assert all("01" in p.minutes for p in profiles.PROFILES.values())


def test_cpu_dtype_and_memory():
    assert hardware.compute_dtype("bfloat16").is_floating_point
    assert str(hardware.compute_dtype("bfloat16")) == "torch.float32"  # CPU trains in fp32
    assert not hardware.is_unified_memory()
    assert 0 < hardware.free_memory_gb() <= hardware.total_memory_gb()


def test_report_lists_versions():
    info = hardware.report()
    assert info["device"] == "cpu" and info["torch"].startswith("2.") and info["trl"] and info["peft"]


GOOD = {"platform": "Linux x86_64", "device": "cuda", "torch CUDA": "13.0", "bf16": "True",
        "compute capability": "9.0", "bitsandbytes": "0.50.2", "transformers": "5.23.0"}


@pytest.mark.parametrize(("change", "expected"), [
    ({"platform": "Linux aarch64", "bitsandbytes": "0.45.0"}, "no ARM64 CUDA build"),
    ({"compute capability": "12.1", "bitsandbytes": "0.48.0"}, "no code for GB10 (sm_121)"),
    ({"torch CUDA": None}, "CPU build"),
    ({"device": "cpu"}, "sees no GPU"),
    ({"bf16": "False"}, "no bfloat16"),
    ({"transformers": "4.57.0"}, "older than the course's pins"),
])
def test_known_problems_flag_bad_combinations(change, expected):
    assert hardware.known_problems(GOOD) == []
    problems = hardware.known_problems({**GOOD, **change})
    assert len(problems) == 1 and expected in problems[0]
