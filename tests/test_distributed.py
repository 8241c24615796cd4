"""The SFT recipe in 2 CPU processes (torchrun, gloo) trains exactly as 1 process with twice the batch; on a GPU,
one FSDP2 step of the toy recipe runs through accelerate's FSDP2 config."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ftlab import distributed, models, profiles

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
