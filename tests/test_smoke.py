"""``python -m ftlab smoke``: the reduced CPU form runs every stage and writes one record; failures and the time
budget are recorded per stage instead of ending the run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftlab import smoke
from ftlab.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cpu_record(tmp_path_factory):
    """The CPU form, run as a student runs it (a fresh process; ``--cpu`` hides a GPU if this machine has one)."""
    out = tmp_path_factory.mktemp("smoke") / "record.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "utils"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "ftlab", "smoke", "--cpu", "--out", str(out)], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"record: {out}" in result.stdout
    return json.loads(out.read_text())


def test_cpu_form_runs_every_stage(cpu_record):
    names = [stage.__name__ for stage in smoke.stages(smoke.FORMS["cpu"])]
    assert list(cpu_record["stages"]) == names
    failed = {name: r.get("error") or r.get("skipped") for name, r in cpu_record["stages"].items() if not r["ok"]}
    assert not failed and cpu_record["ok"] and cpu_record["form"] == "cpu"
    assert cpu_record["seconds"] < smoke.FORMS["cpu"].budget_s


def test_cpu_form_trains_every_lab_path(cpu_record):
    stages = cpu_record["stages"]
    assert stages["peft_lora_step"]["lora_tensors_changed"] > 0
    for name in ("sft", "qlora", *(f"preference_{m}" for m in ("dpo", "simpo", "orpo", "kto"))):
        assert stages[name]["steps"] == 1 and stages[name]["tensors_moved"] > 0, name
    assert stages["sft"]["gradient_checkpointing"] and isinstance(stages["sft"]["reply"], str)
    for method in ("dpo", "simpo", "orpo", "kto"):
        stage = stages[f"preference_{method}"]
        assert abs(stage["hand_loss"] - stage["trl_loss"]) <= stage["tolerance"] == 1e-4
    assert stages["neftune_bound"]["largest_change"] <= stages["neftune_bound"]["limit"]


def test_cpu_form_measures_speed_and_memory_against_the_estimate(cpu_record):
    for key in ("real_tiny", "real_tiny_qlora"):
        run = cpu_record["stages"][key]
        assert run["tokens_per_s"] > 0 and run["seconds_per_step"] > 0 and run["estimate_gib"] > 0
        assert run["mfu"] is None  # no peak figure for a CPU
    assert cpu_record["stages"]["environment"]["report"]["device"] == "cpu"


def test_gpu_form_is_sized_for_eight_minutes():
    gpu = smoke.FORMS["gpu"]
    assert gpu.budget_s <= 7 * 60  # the last stage starts with a minute to spare
    assert max(run.steps for run in gpu.real_runs) == 10 and gpu.preference_steps == 3 and gpu.qlora_steps == 5
    assert {run.shape.name for run in gpu.real_runs} == {"meta-llama/Llama-3.2-3B-Instruct",
                                                         "meta-llama/Llama-3.1-8B-Instruct"}
    assert any(run.weight_bits == 4 for run in gpu.real_runs)


def test_a_failing_stage_is_recorded_and_the_run_goes_on(monkeypatch):
    def broken(form):
        raise ImportError("no module named trl")

    def fine(form):
        return {"value": 1}

    monkeypatch.setattr(smoke, "stages", lambda form: [broken, fine])
    record = smoke.run(smoke.FORMS["cpu"])
    assert record["stages"]["broken"]["ok"] is False and "ImportError: no module named trl" in \
        record["stages"]["broken"]["error"]
    assert record["stages"]["fine"] == {"ok": True, "value": 1, "seconds": record["stages"]["fine"]["seconds"]}
    assert record["ok"] is False


def test_stages_past_the_budget_are_skipped(monkeypatch):
    monkeypatch.setattr(smoke, "stages", lambda form: [smoke.environment, smoke.lora_layer])
    record = smoke.run(smoke.Form("cpu", budget_s=-1, sft_steps=1, qlora_steps=1, preference_steps=1, real_runs=()))
    assert all(r == {"ok": None, "skipped": "time budget of -1 s spent"} for r in record["stages"].values())
    assert record["ok"]  # skipped is not failed


def test_unknown_stage_is_a_usage_error(tmp_path, capsys):
    assert main(["smoke", "--stage", "nope", "--out", str(tmp_path / "r.json")]) == 2
    assert "unknown smoke stages ['nope']; known: environment, peft_lora_step" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


GPU_RECORDS = sorted((ROOT / "benchmarks" / "gpu").glob("smoke-*.json"))


def test_a_gpu_record_is_committed():
    assert GPU_RECORDS, "benchmarks/gpu/ holds the GPU form's records (see benchmarks/gpu/README.md)"


@pytest.mark.parametrize("path", GPU_RECORDS, ids=lambda path: path.name)
def test_committed_gpu_record_passed_every_stage_on_cuda(path):
    record = json.loads(path.read_text())
    assert record["form"] == "gpu" and record["ftlab_smoke"] == smoke.RECORD_VERSION
    assert record["ok"] and all(result["ok"] for result in record["stages"].values())
    assert record["stages"]["environment"]["report"]["device"] == "cuda"


def test_sft_helpers_import_without_ipython():
    """Outside Jupyter (a container's smoke check, the TRL CLI) IPython may be missing: the GPU smoke run found
    ``ftlab.sft`` importing transformers' notebook callback, which needs it."""
    code = "import sys; sys.modules['IPython'] = None; import ftlab.sft, ftlab.preference, ftlab.distributed"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "utils")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
