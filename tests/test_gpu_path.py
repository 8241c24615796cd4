"""The GPU-path failures of issue 13, caught on a CPU: torchao and PEFT, LoRALinear's device, NEFTune's bound in
bf16, models kept alive by a reference cycle, nbval's cell timeout, the disk budget, the compiler check."""

import gc
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import weakref
from pathlib import Path

import pytest
import torch
from test_containers import final_stage, shell_commands
from transformers.integrations.neftune import neftune_post_forward_hook

from ftlab import memory, neftune
from ftlab.lora import LoRALinear

ROOT = Path(__file__).resolve().parents[1]


# --- 1. torchao older than 0.16 breaks every PEFT LoRA layer; the image removes it ---------------------------------

def fake_torchao_environment(tmp_path: Path) -> Path:
    """A virtual environment on top of this one, with a stand-in ``torchao 0.14.0+git`` installed as NGC 25.11 has
    it (a package plus its dist-info and RECORD, so that ``pip uninstall`` can remove it); returns its bin/."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "course.pth").write_text(f"{sysconfig.get_path('purelib')}\n{ROOT / 'utils'}\n")
    (site / "torchao").mkdir()
    (site / "torchao" / "__init__.py").write_text('__version__ = "0.14.0+git"\n')
    info = site / "torchao-0.14.0+git.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torchao\nVersion: 0.14.0+git\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("".join(f"{p},,\n" for p in ["torchao/__init__.py", *(
        f"{info.name}/{name}" for name in ("METADATA", "INSTALLER", "RECORD"))]))
    return venv / "bin"


def build_step(bin_dir: Path, command: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run a Dockerfile RUN command with the fake environment's python3 first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "CUDA_VISIBLE_DEVICES": "", "HOME": str(tmp_path)}
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)


def test_old_torchao_breaks_lora_and_the_image_build_removes_it(tmp_path):
    runs = [args for _, keyword, args in final_stage() if keyword == "RUN"]
    (smoke_step,) = [run.replace("/tmp/ftlab-smoke.json", str(tmp_path / "smoke.json")) for run in runs
                     if "ftlab smoke" in run]
    (uninstall,) = [part.strip() for run in runs for part in run.split("&&") if "pip uninstall" in part]
    bin_dir = fake_torchao_environment(tmp_path)

    broken = build_step(bin_dir, smoke_step.replace("&& rm ", "; status=$?; cat ") + "; exit $status", tmp_path)
    assert broken.returncode != 0, "the build's smoke step must stop the build"
    assert "incompatible version of torchao" in broken.stdout  # PEFT's ImportError, recorded by the LoRA stage
    assert "torchao 0.14.0+git is installed and PEFT" in broken.stdout  # and named by the environment report

    removed = build_step(bin_dir, f"export PIP_BREAK_SYSTEM_PACKAGES=1; {uninstall}", tmp_path)
    assert removed.returncode == 0, removed.stderr
    fixed = build_step(bin_dir, smoke_step, tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "ok     peft_lora_step" in fixed.stdout


# --- 2. Lab 02: LoRALinear on the base layer's device and dtype -----------------------------------------------------

@pytest.mark.parametrize(("device", "dtype"), [("meta", torch.bfloat16), ("meta", torch.float32),
                                               ("cpu", torch.bfloat16)])
def test_lora_linear_follows_its_base_layer(device, dtype):
    base = torch.nn.Linear(32, 16, device=device, dtype=dtype)
    layer = LoRALinear(base, r=4, alpha=8)
    for parameter in (layer.lora_A, layer.lora_B):
        assert (parameter.device.type, parameter.dtype) == (device, dtype)
    out = layer(torch.randn(3, 32, device=device, dtype=dtype))  # no device mismatch
    assert out.shape == (3, 16) and out.device.type == device


# --- 3. Lab 05: NEFTune's bound, in the embeddings' dtype -----------------------------------------------------------

def neftune_changes(dtype: torch.dtype, dim: int, seq_len: int, seed: int) -> tuple[float, float, float]:
    """(largest |noisy − clean|, bound, max_change) for one batch through transformers' own NEFTune hook, with
    embedding values of a real model's size (std 0.02)."""
    torch.manual_seed(seed)
    embedding = torch.nn.Embedding(100, dim).to(dtype)
    torch.nn.init.normal_(embedding.weight, std=0.02)
    ids = torch.randint(0, 100, (2, seq_len))
    clean = embedding(ids).detach()
    embedding.neftune_noise_alpha = 5.0
    embedding.register_forward_hook(neftune_post_forward_hook)
    noisy = embedding.train()(ids).detach()
    largest = (noisy - clean).abs().max().item()
    return largest, neftune.noise_bound(5.0, seq_len, dim), neftune.max_change(5.0, seq_len, dim, clean)


def test_neftune_bound_in_bf16_needs_a_dtype_tolerance():
    trials = [neftune_changes(torch.bfloat16, dim, seq_len, seed)
              for dim in (2048, 3072, 4096) for seq_len in (8, 12) for seed in range(5)]
    over_fixed = sum(largest > bound * 1.0001 for largest, bound, _ in trials)
    assert over_fixed > len(trials) // 2  # Lab 05's fixed 1.0001 fails most bf16 batches
    assert all(0.9 * bound <= largest <= limit for largest, bound, limit in trials)
    assert all(limit < 1.1 * bound for _, bound, limit in trials)  # still a real check, not a loose one


def test_neftune_limit_in_float32_is_the_bound():
    largest, bound, limit = neftune_changes(torch.float32, 2048, 10, 0)
    assert 0.9 * bound <= largest <= limit < bound * (1 + 1e-5)


# --- 4. Labs 04/05: a model with accelerate's reference cycle is freed only by the garbage collector ---------------

def test_free_releases_a_model_held_by_a_reference_cycle():
    def loaded_model():
        model = torch.nn.Linear(256, 256)
        model._original_forward = model.forward  # what accelerate keeps on a model with hooks: a cycle
        return model

    gc.disable()
    try:
        model = loaded_model()
        alive = weakref.ref(model)
        del model
        assert alive() is not None  # `del` alone leaves it in memory
        memory.free()
        assert alive() is None
    finally:
        gc.enable()
    assert memory.free() > 0


# --- 10. the install checks for a C/C++ compiler before it starts ----------------------------------------------------

@pytest.fixture
def stamp_recipe(tmp_path):
    """The Makefile and pyproject.toml in a scratch directory, and a python3 whose ``-m venv`` fails (so a passing
    compiler check is visible as the next step's error, and nothing is installed)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(f'#!/bin/sh\n[ "$1" = "-m" ] && exit 1\nexec {sys.executable} "$@"\n')
    fake.chmod(0o755)

    def make(*compilers: str) -> subprocess.CompletedProcess:
        for name in compilers:
            (bin_dir / name).symlink_to("/bin/true")
        env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
        return subprocess.run([shutil.which("make"), "--no-print-directory", "PYTHON=" + str(fake),
                               ".venv/.installed-stamp"], cwd=tmp_path, capture_output=True, text=True, env=env)

    return make


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_install_stops_early_without_a_compiler(stamp_recipe):
    result = stamp_recipe()
    assert result.returncode != 0
    assert "no C/C++ compiler" in result.stdout and "sudo apt-get install build-essential" in result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_install_goes_on_with_a_compiler(stamp_recipe):
    result = stamp_recipe("cc", "c++")
    assert "no C/C++ compiler" not in result.stdout
    assert "python3 -m venv' failed" in result.stdout  # the next step ran


# --- 6. a cell that trains for an hour must not hit nbval's 2000 s default --------------------------------------------

def cell_timeout(command: str) -> int | None:
    match = re.search(r"--nbval-cell-timeout[= ](\d+)", command)
    return int(match.group(1)) if match else None


def test_make_check_raises_nbval_cell_timeout():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (recipe,) = re.findall(r"^check:.*\n\t(.*)$", makefile, re.M)
    assert "--nbval-cell-timeout=$(CELL_TIMEOUT)" in recipe
    assert int(re.search(r"^CELL_TIMEOUT \?= (\d+)$", makefile, re.M).group(1)) >= 3600  # Lab 05: 40-60 min


def test_container_readme_checks_labs_on_toy_or_with_a_cell_timeout():
    runs = [c for c in shell_commands(ROOT / "containers" / "README.md") if "--nbval-lax labs/" in c]
    assert any("FTLAB_PROFILE=toy" in c for c in runs), "the setup check runs the toy profile (minutes)"
    for command in runs:
        assert "FTLAB_PROFILE=toy" in command or (cell_timeout(command) or 0) >= 3600, command


# --- 8. LAB_PREP: the disk each profile needs, from the models' sizes ----------------------------------------------

def test_lab_prep_disk_budget_is_computed_from_the_models():
    spec = importlib.util.spec_from_file_location("disk_budget", ROOT / "benchmarks" / "disk_budget.py")
    disk_budget = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(disk_budget)
    lab_prep = (ROOT / "LAB_PREP.md").read_text(encoding="utf-8")
    assert disk_budget.table() in lab_prep
    spark = disk_budget.budget("spark")
    assert 55 < spark["lab10"] < 70  # the count: two merged 16 GB copies, a 16 GB GGUF, Q8_0, Q4_K_M
    recommended = re.search(r"keep \*\*~(\d+) GB free on a Spark\*\* and \*\*~(\d+) GB for `gpu24`\*\*", lab_prep)
    assert int(recommended.group(1)) >= spark["total"] + 40 and \
        int(recommended.group(2)) >= disk_budget.budget("gpu24")["total"] + 40  # + the image and its build cache


# --- 9. the estimator with LoRA and gradient checkpointing ---------------------------------------------------------

def test_lora_with_checkpointing_is_estimated_within_the_measured_spread():
    """benchmarks/estimate_memory.py's LoRA r16 + checkpointing row: 897, 896 and 1003 MiB measured (peak RSS on CPU,
    three runs); the estimate was 752 (-25%). Checkpointing without LoRA keeps its measured +8%."""
    spec = importlib.util.spec_from_file_location("estimate_memory", ROOT / "benchmarks" / "estimate_memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    configs = {config["name"]: config for config in bench.CONFIGS}
    lora_ckpt = bench.estimate(configs["LoRA r16 + checkpointing, 8 × 256"]) / 2**20
    assert 0.85 * 1003 <= lora_ckpt <= 1.05 * 896
    full_ckpt = bench.estimate(configs["full fine-tune + checkpointing, 4 × 256"]) / 2**20
    assert full_ckpt == pytest.approx(753, abs=1)  # the term changed only where it was wrong
