"""The SFT recipe in 2 CPU processes (torchrun, gloo) trains exactly as 1 process with twice the batch; on a GPU,
one FSDP2 step of the toy recipe runs through accelerate's FSDP2 config."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ftlab import checks, distributed, models, profiles

ROOT = Path(__file__).resolve().parents[1]
TOY_SFT = ROOT / "recipes" / "toy" / "sft.yaml"


def test_two_processes_train_like_one_with_twice_the_batch():
    toy = profiles.get("toy")
    common = ["--model_name_or_path", str(models.resolve(toy)), "--max_steps", "6", "--logging_steps", "1",
              "--eval_strategy", "no"]
    two = distributed.run_ranks(TOY_SFT, 2, *common, "--per_device_train_batch_size", str(toy.batch_size // 2))
    (one,) = distributed.run_ranks(TOY_SFT, 1, *common, "--per_device_train_batch_size", str(toy.batch_size))
    assert [(r["rank"], r["world_size"], r["backend"]) for r in two] == [(0, 2, "gloo"), (1, 2, "gloo")]
    assert two[0]["effective_batch"] == one["effective_batch"] == toy.batch_size
    assert all(torch.equal(two[0]["weights"][n], two[1]["weights"][n]) for n in two[0]["weights"])
    assert len(two[0]["losses"]) == len(one["losses"]) == 6
    assert max(abs(a - b) for a, b in zip(two[0]["losses"], one["losses"], strict=True)) <= 1e-4


def test_a_failed_run_says_so_with_the_ranks_own_error():
    with pytest.raises(RuntimeError, match=r"(?s)the 2-process run failed \(exit 1\).*/nonexistent/model"):
        distributed.run_ranks(TOY_SFT, 2, "--model_name_or_path", "/nonexistent/model", "--max_steps", "1",
                              timeout=240)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="FSDP needs a GPU (NCCL)")
def test_one_fsdp2_process_trains_the_toy_recipe_on_a_gpu(tmp_path):
    run = ["accelerate", "launch", "--config_file", "recipes/accelerate/fsdp2.yaml", "--num_processes", "1",
           "--mixed_precision", "no", "-m", "trl.scripts.sft", "--config", "recipes/toy/sft.yaml",
           "--model_name_or_path", str(models.resolve(profiles.get("toy"))), "--max_steps", "2",
           "--eval_strategy", "no", "--output_dir", str(tmp_path)]
    result = subprocess.run([str(Path(sys.executable).parent / run[0]), *run[1:]], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "adapter_model.safetensors").is_file()


def solutions():
    spec = importlib.util.spec_from_file_location("lab11_solutions", ROOT / "labs" / "solutions" / "11_scale_out.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_accumulation_exercise():
    assert checks.check_accumulation_for(solutions().accumulation_for)
    forgot_processes = checks.check_accumulation_for(lambda target, per_device, processes: target // per_device)
    assert not forgot_processes and "you left out the processes" in forgot_processes.message
    as_float = checks.check_accumulation_for(lambda target, per_device, processes: target / per_device / processes)
    assert not as_float and "whole number" in as_float.message
    no_error = checks.check_accumulation_for(lambda target, per_device, processes: target // (per_device * processes))
    assert not no_error and "raise ValueError" in no_error.message


def test_two_machines_exercise():
    solved = solutions().two_machines_config(4)
    assert checks.check_two_machine_config(solved, gpus_per_machine=4)
    one_machines_worth = checks.check_two_machine_config(solved | {"num_processes": 4}, gpus_per_machine=4)
    assert not one_machines_worth and "all processes over all machines" in one_machines_worth.message
    no_ip = checks.check_two_machine_config(solved | {"main_process_ip": None}, gpus_per_machine=4)
    assert not no_ip and "main_process_ip" in no_ip.message
    assert "as a dict" in checks.check_two_machine_config([], gpus_per_machine=4).message
