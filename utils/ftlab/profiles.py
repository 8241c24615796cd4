"""Profiles: which models, sizes and step counts a lab uses on this machine.

Labs never hard-code a model, device or dtype: they ask ``current()``. ``FTLAB_PROFILE`` picks a
profile by name; otherwise it is detected from the hardware (see :func:`detect`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from ftlab import hardware

TOY_MODEL = "toy"  # built locally by ftlab.toy; every other model id is a Hugging Face Hub id


@dataclass(frozen=True)
class Profile:
    """Everything a lab needs to size itself for one kind of machine."""

    name: str
    description: str
    memory_gb: float  # the memory budget the labs must fit (GPU, or unified/system memory)
    model: str  # the base model for LoRA labs (a gated hub id, or "toy")
    model_ungated: str  # the same role without a licence gate
    qlora_model: str  # the large model Lab 04 fits with 4-bit QLoRA
    qlora_model_ungated: str
    dtype: str  # compute dtype: "float32", "bfloat16" or "float16"
    max_seq_length: int
    train_examples: int  # SFT examples used for training (the rest of the data is left out)
    batch_size: int
    grad_accum: int
    max_steps: int
    learning_rate: float
    lora_r: int
    lora_alpha: int
    eval_examples: int
    gradient_checkpointing: bool  # recompute activations in the backward pass: slower, far less memory
    preference_steps: int  # optimizer steps of one preference-tuning run (DPO, SimPO, ORPO, KTO; Labs 06-09)
    preference_learning_rate: float  # lower than SFT's: preference losses push harder on a model that already chats
    minutes: dict[str, float] = field(default_factory=dict)  # expected time per lab, e.g. {"01": 0.5}
    seed: int = 0  # every training run's seed (FTLAB_SEED); benchmarks/outcomes.py varies it

    @property
    def is_toy(self) -> bool:
        """True for the CPU profile whose labs assert their measured outcomes."""
        return self.model == TOY_MODEL

    def model_id(self, gated_ok: bool = True) -> str:
        """The base model to load; ``gated_ok=False`` picks the ungated alternative."""
        return self.model if gated_ok else self.model_ungated

    def qlora_model_id(self, gated_ok: bool = True) -> str:
        """The large model for QLoRA; ``gated_ok=False`` picks the ungated alternative."""
        return self.qlora_model if gated_ok else self.qlora_model_ungated


PROFILES: dict[str, Profile] = {
    "toy": Profile(
        name="toy", description="any CPU: a tiny Llama built locally from the course corpus (no download)",
        memory_gb=4, model=TOY_MODEL, model_ungated=TOY_MODEL, qlora_model=TOY_MODEL,
        qlora_model_ungated=TOY_MODEL, dtype="float32", max_seq_length=64, train_examples=1520,
        batch_size=16, grad_accum=1, max_steps=150, learning_rate=2e-3, lora_r=16, lora_alpha=32,
        eval_examples=240, gradient_checkpointing=False, preference_steps=80, preference_learning_rate=1e-3,
        minutes={"01": 1},
    ),
    "gpu24": Profile(
        name="gpu24", description="one consumer GPU with ~24 GB (RTX 4090/5090 class)",
        memory_gb=24, model="meta-llama/Llama-3.2-3B-Instruct", model_ungated="Qwen/Qwen2.5-3B-Instruct",
        qlora_model="meta-llama/Llama-3.1-8B-Instruct", qlora_model_ungated="Qwen/Qwen2.5-7B-Instruct",
        dtype="bfloat16", max_seq_length=512, train_examples=1520, batch_size=4, grad_accum=4,
        max_steps=200, learning_rate=2e-4, lora_r=16, lora_alpha=32, eval_examples=240,
        gradient_checkpointing=True, preference_steps=60, preference_learning_rate=5e-5, minutes={"01": 3},
    ),
    "spark": Profile(
        name="spark", description="NVIDIA DGX Spark: GB10, 128 GB unified memory",
        memory_gb=128, model="meta-llama/Llama-3.1-8B-Instruct", model_ungated="Qwen/Qwen2.5-7B-Instruct",
        qlora_model="meta-llama/Llama-3.1-70B-Instruct", qlora_model_ungated="Qwen/Qwen2.5-72B-Instruct",
        dtype="bfloat16", max_seq_length=1024, train_examples=1520, batch_size=4, grad_accum=4,
        max_steps=300, learning_rate=2e-4, lora_r=16, lora_alpha=32, eval_examples=240,
        gradient_checkpointing=True, preference_steps=60, preference_learning_rate=5e-5, minutes={"01": 5},
    ),
}


def detect() -> str:
    """Name the profile this machine fits: ``spark`` on GB10/unified memory, ``gpu24`` on a big GPU, else ``toy``."""
    if hardware.device() != "cuda":
        return "toy"
    if hardware.is_unified_memory():
        return "spark"
    return "gpu24" if hardware.total_memory_gb() >= 20 else "toy"


def get(name: str) -> Profile:
    """The profile called ``name``; an unknown name is an error listing the known ones."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (from FTLAB_PROFILE or the caller); "
                         f"known profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


def current() -> Profile:
    """The profile named by ``FTLAB_PROFILE``, or the one detected from the hardware, with ``FTLAB_SEED``."""
    seed = os.environ.get("FTLAB_SEED", "0")
    if not seed.isdigit():
        raise ValueError(f"FTLAB_SEED must be a whole number ≥ 0, got {seed!r}")
    return replace(get(os.environ.get("FTLAB_PROFILE") or detect()), seed=int(seed))
