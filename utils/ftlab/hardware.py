"""What machine this is: device, dtype support, memory (unified or not) and a version report."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import psutil
import torch
from packaging.version import Version

from ftlab.units import GIB


def device() -> str:
    """``cuda``, ``mps`` or ``cpu``: the best accelerator PyTorch can use here."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def supports_bf16() -> bool:
    """Whether bfloat16 training is supported (Ampere and newer GPUs; not MPS here; CPU emulates it slowly)."""
    return device() == "cuda" and torch.cuda.is_bf16_supported()


def compute_dtype(preferred: str = "bfloat16") -> torch.dtype:
    """The dtype to train in: ``preferred`` when the hardware supports it, else float16 on GPUs, float32 on CPU."""
    if preferred == "float32" or device() == "cpu":
        return torch.float32
    if preferred == "bfloat16" and not supports_bf16():
        return torch.float16 if device() == "cuda" else torch.float32
    return getattr(torch, preferred)


def is_unified_memory() -> bool:
    """True when the GPU shares system memory (DGX Spark's GB10, Jetson): CPU and GPU draw on one pool."""
    if not torch.cuda.is_available():
        return False
    props = torch.cuda.get_device_properties(0)
    return bool(getattr(props, "is_integrated", False)) or "GB10" in props.name


def total_memory_gb() -> float:
    """Memory the model can use: GPU memory on a discrete GPU, else system memory."""
    if torch.cuda.is_available() and not is_unified_memory():
        return torch.cuda.get_device_properties(0).total_memory / GIB
    return psutil.virtual_memory().total / GIB


def free_memory_gb() -> float:
    """Memory free for a new model.

    On unified memory (GB10) ``torch.cuda.mem_get_info`` counts the page cache as used and under-reports
    what is free, so there we use the system's *available* memory, which counts reclaimable cache as free.
    """
    if torch.cuda.is_available() and not is_unified_memory():
        return torch.cuda.mem_get_info()[0] / GIB
    return psutil.virtual_memory().available / GIB


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


REPORTED_PACKAGES = ["torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets", "torchao"]
PEFT_MIN_TORCHAO = Version("0.16.0")  # PEFT 0.21 raises ImportError on every LoRA layer with an older torchao installed

# Dense bf16 tensor-core peaks (TFLOP/s) for model-FLOPs utilisation. NVIDIA publishes no bf16 figure for GB10:
# ~125 is derived from its FP4 figure.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "GB10": 125.0}


def peak_bf16_tflops(gpu_name: str | None) -> float | None:
    """The dense bf16 peak of a GPU named like ``torch.cuda.get_device_name()``; None for a GPU not in the table."""
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in (gpu_name or "")), None)


def report() -> dict[str, str | None]:
    """Versions and hardware facts a student pastes into a bug report."""
    info: dict[str, str | None] = {
        "python": sys.version.split()[0], "platform": f"{platform.system()} {platform.machine()}",
        "device": device(), "torch CUDA": torch.version.cuda, "GPU": None, "compute capability": None,
        "unified memory": str(is_unified_memory()), "bf16": str(supports_bf16()),
        "total memory (GiB)": f"{total_memory_gb():.1f}", "free memory (GiB)": f"{free_memory_gb():.1f}",
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["GPU"] = props.name
        info["compute capability"] = f"{props.major}.{props.minor}"
    for package in REPORTED_PACKAGES:
        info[package] = _version(package)
    return info


def known_problems(info: dict[str, str | None]) -> list[str]:
    """Warnings for known-bad combinations in a :func:`report`; each names the fix."""
    problems = []
    bnb = info.get("bitsandbytes")
    machine = (info.get("platform") or "").split()[-1:]
    if bnb and machine == ["aarch64"] and Version(bnb) < Version("0.46.0"):
        problems.append(f"bitsandbytes {bnb} has no ARM64 CUDA build: install bitsandbytes>=0.49 for QLoRA.")
    if bnb and info.get("compute capability") == "12.1" and Version(bnb) < Version("0.49.0"):
        problems.append(f"bitsandbytes {bnb} has no code for GB10 (sm_121): install bitsandbytes>=0.49.")
    if info.get("device") == "cuda" and info.get("torch CUDA") is None:
        problems.append("a GPU is visible but this torch is a CPU build: inside an NGC container use the image's "
                        "torch; never `pip install torch` there.")
    if info.get("device") == "cpu" and (info.get("torch CUDA") or "").startswith(("12", "13")):
        problems.append("torch was built for CUDA but sees no GPU: check the driver (`nvidia-smi`) and that the "
                        "container was started with `--gpus all`.")
    if info.get("device") == "cuda" and info.get("bf16") == "False":
        problems.append("this GPU has no bfloat16: the course falls back to float16; keep max_grad_norm=1.0 "
                        "and watch for NaN loss.")
    torchao = info.get("torchao")
    if torchao and info.get("peft") and Version(torchao) < PEFT_MIN_TORCHAO:
        problems.append(f"torchao {torchao} is installed and PEFT {info['peft']} refuses torchao older than "
                        f"{PEFT_MIN_TORCHAO}: every LoRA layer raises ImportError. The course never uses torchao: "
                        "`pip uninstall -y torchao` (the course container does).")
    transformers_version = info.get("transformers")
    if transformers_version and Version(transformers_version).major < 5:
        problems.append(f"transformers {transformers_version} is older than the course's pins: "
                        "reinstall with `make lab` or the container.")
    return problems
