"""Supervised fine-tuning with TRL + PEFT (Labs 03-05), configured from a profile, and the SFT adapter later labs
start from. Its LoRA settings and shared trainer settings are also what ``ftlab.preference`` trains with."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from ftlab import data, hardware, models
from ftlab.files import staged_dir
from ftlab.paths import outputs_dir
from ftlab.profiles import Profile

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora_config(profile: Profile, **overrides) -> LoraConfig:
    """The profile's LoRA settings: rank, alpha, attention and MLP projections, no dropout."""
    settings = {"r": profile.lora_r, "lora_alpha": profile.lora_alpha, "target_modules": LORA_TARGETS,
                "lora_dropout": 0.0, "task_type": "CAUSAL_LM"} | overrides
    return LoraConfig(**settings)


def precision_flags(profile: Profile) -> dict[str, bool]:
    """``bf16``/``fp16`` trainer flags for the profile's dtype on this hardware (both off on CPU)."""
    dtype = hardware.compute_dtype(profile.dtype)
    return {"bf16": dtype == torch.bfloat16, "fp16": dtype == torch.float16}


def shared_settings(profile: Profile, output_dir: str | Path, steps: int, seed: int | None = None) -> dict:
    """What every course trainer (SFT here, the preference methods in ``ftlab.preference``) is configured with:
    steps, cosine schedule with 5% warm-up, a log line every 5%, the profile's length, accumulation, device,
    precision and checkpointing; the profile's seed unless ``seed`` is given; no checkpoints; losses logged to
    TensorBoard event files in ``<output_dir>/runs/``."""
    return {"output_dir": str(output_dir), "max_steps": steps, "gradient_accumulation_steps": profile.grad_accum,
            "max_length": profile.max_seq_length, "lr_scheduler_type": "cosine", "warmup_steps": max(1, steps // 20),
            "logging_steps": max(1, steps // 20), "save_strategy": "no", "report_to": ["tensorboard"],
            "seed": profile.seed if seed is None else seed,
            "use_cpu": hardware.device() == "cpu", "activation_checkpointing": profile.gradient_checkpointing,
            **precision_flags(profile)}


def sft_config(profile: Profile, output_dir: str | Path, seed: int | None = None, **overrides) -> SFTConfig:
    """An ``SFTConfig`` from the profile: loss on the completion only, eval every quarter (unless ``eval_strategy``
    is overridden), nothing saved. Lab 03 writes the same config out argument by argument."""
    steps = overrides.pop("max_steps", profile.max_steps)
    settings = shared_settings(profile, output_dir, steps, seed) | {
        "learning_rate": profile.learning_rate, "per_device_train_batch_size": profile.batch_size,
        "per_device_eval_batch_size": 2 * profile.batch_size, "completion_only_loss": True,
        "eval_strategy": "steps", "eval_steps": max(1, steps // 4),
    } | overrides
    if settings["eval_strategy"] == "no":
        del settings["eval_steps"]
    return SFTConfig(**settings)


def sft_splits(profile: Profile, seed: int = 0):
    """The course SFT data as prompt/completion, limited to the profile's size, split 90/10 with ``seed``; the eval
    part is cut to the profile's ``eval_conversations`` (cpu: 16, as every eval-loss pass costs what training does)."""
    examples = data.to_prompt_completion(data.course_dataset("sft"))
    examples = examples.select(range(min(profile.train_examples, len(examples))))
    train, evaluation = data.train_eval_split(examples, eval_fraction=0.1, seed=seed)
    return train, evaluation.select(range(min(profile.eval_conversations, len(evaluation))))


def sft_trainer(profile: Profile, output_dir: str | Path | None = None, seed: int | None = None, model=None,
                tokenizer=None,
                **config_overrides) -> SFTTrainer:
    """A ready-to-train ``SFTTrainer`` with a fresh LoRA adapter on the profile's base model.

    ``output_dir`` is only the trainer's scratch space (nothing is saved there); a temporary one by default.
    """
    output_dir = output_dir or tempfile.mkdtemp(prefix="ftlab-sft-")
    if model is None:
        model, tokenizer = models.load(profile)
    train, evaluation = sft_splits(profile)
    return SFTTrainer(model=model, args=sft_config(profile, output_dir, seed=seed, **config_overrides),
                      train_dataset=train, eval_dataset=evaluation, processing_class=tokenizer,
                      peft_config=lora_config(profile))


# By name: importing transformers' notebook callback needs IPython, which a container's `python -m ftlab smoke` or a
# TRL CLI run need not have.
PROGRESS_CALLBACKS = ("NotebookProgressCallback", "ProgressCallback", "PrinterCallback")


def silence(trainer):
    """The same trainer without progress bar or printed logs (``trainer.state.log_history`` still records them).

    For cells that train several times: each bar update is one notebook message, and past ~1000 messages in one
    cell JupyterLab slows down and nbval loses the end of the cell.
    """
    for callback in list(trainer.callback_handler.callbacks):
        if type(callback).__name__ in PROGRESS_CALLBACKS:
            trainer.remove_callback(callback)
    return trainer


def sft_adapter_dir(profile: Profile) -> Path:
    """Where Lab 03 saves its LoRA adapter for later labs (per profile)."""
    return outputs_dir() / profile.name / "lab03_sft_adapter"


def save_atomically(trainer: SFTTrainer, destination: Path, profile: Profile) -> Path:
    """Save adapter, tokenizer and the base model's identity to a temporary directory, then rename it into place
    (replacing an older adapter there)."""
    with staged_dir(destination, replace=True) as staging:
        trainer.model.save_pretrained(staging)
        trainer.processing_class.save_pretrained(staging)
        (staging / "ftlab_base.txt").write_text(_base_identity(profile))
    return destination


def _base_identity(profile: Profile) -> str:
    """What the adapter was trained on: a locally built model's cache key, or the hub id; and the seed."""
    source = models.resolve(profile)
    base = source.name if isinstance(source, Path) else source
    return base if profile.seed == 0 else f"{base} seed {profile.seed}"


def ensure_sft_adapter(profile: Profile) -> Path:
    """Lab 03's adapter directory, training it with Lab 03's recipe first if it is missing or was made for
    another base model (e.g. after the toy model was rebuilt with a new recipe); it says so in one printed line."""
    destination = sft_adapter_dir(profile)
    stamp = destination / "ftlab_base.txt"
    if stamp.is_file() and stamp.read_text() == _base_identity(profile):
        return destination
    why = "was made for another base model" if stamp.is_file() else "is missing (Lab 03 saves it)"
    print(f"Lab 03's adapter in {destination} {why}: training it now with Lab 03's recipe ({profile.max_steps} steps)")
    trainer = sft_trainer(profile)
    trainer.train()
    return save_atomically(trainer, destination, profile)


def overfitting_signals(log_history: list[dict], gap_threshold: float = 0.5) -> list[str]:
    """Read a trainer's log history and name the classic overfitting signs it shows (empty if none).

    Signs: eval loss rising from its best while train loss keeps falling; eval − train gap above
    ``gap_threshold``; train loss near zero.
    """
    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    signals = []
    if len(evals) >= 2 and len(train) >= 2:
        best_step, best = min(evals, key=lambda pair: pair[1])
        last_step, last = evals[-1]
        train_after_best = [loss for step, loss in train if step >= best_step]
        if last > best * 1.05 and train_after_best and train_after_best[-1] < train_after_best[0]:
            signals.append(f"eval loss rose from {best:.3f} (step {best_step}) to {last:.3f} (step {last_step}) "
                           "while train loss kept falling")
    if evals and train and evals[-1][1] - train[-1][1] > gap_threshold:
        signals.append(f"eval loss exceeds train loss by {evals[-1][1] - train[-1][1]:.2f} (> {gap_threshold})")
    if train and train[-1][1] < 0.01:
        signals.append(f"train loss is near zero ({train[-1][1]:.4f}): the model is memorising")
    return signals
