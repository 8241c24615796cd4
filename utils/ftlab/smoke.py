"""``python -m ftlab smoke``: the course's GPU path, checked in one run that writes one JSON record.

Each stage is a small function returning a dict; a stage that raises is recorded as failed (with its error) and the
next one runs. In order: the environment report and its known problems; a PEFT LoRA layer trained one step (the
check the container build runs); the labs' core cells on the toy weights, in bf16 with gradient checkpointing
(Lab 02's hand-written LoRA layer, Lab 03's SFT with a reply, Lab 05's NEFTune bound, Lab 04's 4-bit load and QLoRA
steps, Labs 06-09's DPO/SimPO/ORPO/KTO steps with the hand-written losses against TRL's); then random-weight
models at the course's real shapes, for seconds per step, tokens per second, model-FLOPs utilisation and peak
memory against :mod:`ftlab.estimate`.

The GPU form fits 8 minutes by design (few steps per stage, and a time budget after which the remaining stages are
recorded as skipped). Without CUDA, or with ``--cpu``, a reduced form runs instead: toy model, one or two steps,
tiny random shapes; the tests run it.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from ftlab import estimate, hardware, memory, methods, profiles, units
from ftlab.estimate import ModelShape
from ftlab.paths import outputs_dir

RECORD_VERSION = 1
LORA_R, LORA_ALPHA = 16, 32  # the course's recipe on every real profile
FLOPS_PER_PARAMETER = 4  # per token, LoRA: forward (2N) plus the backward pass through the activations (2N)


@dataclass(frozen=True)
class RealRun:
    """SFT with LoRA on a random-weight model of a real shape: the course's recipe at full size, no download."""

    key: str  # the stage's name in the record
    label: str
    shape: ModelShape
    batch_size: int
    seq_len: int
    steps: int
    weight_bits: int = 16


@dataclass(frozen=True)
class Form:
    """How much the smoke check runs: the GPU form, or the reduced CPU form the tests run."""

    name: str
    budget_s: float  # stages that would start after this many seconds are skipped
    sft_steps: int
    qlora_steps: int
    preference_steps: int
    real_runs: tuple[RealRun, ...]


_TINY = ModelShape("tiny-random", 512, 64, 192, 2, 4, 2)
_3B, _8B = estimate.SHAPES["meta-llama/Llama-3.2-3B-Instruct"], estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]
FORMS = {
    "gpu": Form("gpu", budget_s=420, sft_steps=5, qlora_steps=5, preference_steps=3, real_runs=(
        RealRun("real_3b", "3B LoRA, gpu24 recipe (4 x 512)", _3B, 4, 512, 10),
        RealRun("real_8b", "8B LoRA, NeMo H100 benchmark shape (2 x 4096)", _8B, 2, 4096, 10),
        RealRun("real_8b_qlora", "8B QLoRA, gpu24 recipe (4 x 512)", _8B, 4, 512, 5, weight_bits=4),
    )),
    "cpu": Form("cpu", budget_s=600, sft_steps=1, qlora_steps=1, preference_steps=1, real_runs=(
        RealRun("real_tiny", "tiny LoRA (2 x 64)", _TINY, 2, 64, 2),
        RealRun("real_tiny_qlora", "tiny QLoRA (2 x 64)", _TINY, 2, 64, 2, weight_bits=4),
    )),
}


NO_WARMUP = {"warmup_steps": 0}  # a step at the warm-up's learning rate of 0 would move nothing


def smoke_profile(form: Form) -> profiles.Profile:
    """The toy profile as a real profile trains: bf16 (on CUDA), gradient checkpointing, a few steps."""
    return replace(profiles.get("toy"), name="smoke", dtype="bfloat16", gradient_checkpointing=True, batch_size=4,
                   grad_accum=1, max_steps=form.sft_steps, preference_steps=form.preference_steps)


# ---------------------------------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------------------------------

def environment(form: Form) -> dict:
    """Versions, hardware and the known problems :func:`ftlab.hardware.known_problems` finds (recorded, not fatal)."""
    info = hardware.report()
    return {"report": info, "known_problems": hardware.known_problems(info),
            "torch_cuda_arch_list": torch.cuda.get_arch_list() if torch.cuda.is_available() else [],
            "peak_bf16_tflops": hardware.peak_bf16_tflops(info["GPU"])}


def _tiny_llama(shape: ModelShape, device: str, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=shape.vocab_size, hidden_size=shape.hidden_size,
                         intermediate_size=shape.intermediate_size, num_hidden_layers=shape.num_layers,
                         num_attention_heads=shape.num_heads, num_key_value_heads=shape.num_kv_heads,
                         tie_word_embeddings=shape.tie_embeddings, use_cache=False)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def peft_lora_step(form: Form) -> dict:
    """PEFT's LoRA on every projection of a tiny random Llama, one AdamW step: fails when PEFT cannot make a LoRA
    layer (e.g. PEFT 0.21 with torchao older than 0.16 installed)."""
    from peft import LoraConfig, get_peft_model

    device, dtype = hardware.device(), hardware.compute_dtype("bfloat16")
    torch.manual_seed(0)
    model = get_peft_model(_tiny_llama(_TINY, device, dtype), LoraConfig(
        r=LORA_R, lora_alpha=LORA_ALPHA, target_modules=list(_TINY.linear_shapes()), task_type="CAUSAL_LM"))
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3)
    batch = torch.randint(0, _TINY.vocab_size, (2, 16), device=device)
    loss = model(input_ids=batch, labels=batch).loss
    loss.backward()
    optimizer.step()
    changed = sum(not torch.equal(a, p.detach()) for a, p in zip(before, trainable, strict=True))
    if not math.isfinite(loss.item()) or changed == 0:
        raise RuntimeError(f"one LoRA step gave loss {loss.item()} and changed {changed} adapter tensors")
    return {"device": device, "dtype": str(dtype), "loss": loss.item(), "lora_tensors_changed": changed}


def lora_layer(form: Form) -> dict:
    """Lab 02: the hand-written :class:`ftlab.lora.LoRALinear` on the GPU equals PEFT's layer, merged and not."""
    from peft import LoraConfig, get_peft_model

    from ftlab.lora import LoRALinear

    device = hardware.device()
    torch.manual_seed(0)
    base = torch.nn.Linear(64, 48, device=device)
    mine = LoRALinear(copy.deepcopy(base), r=8, alpha=16)
    wrapper = torch.nn.Sequential()
    wrapper.q_proj = copy.deepcopy(base)
    peft_model = get_peft_model(wrapper, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj"]))
    peft_layer = peft_model.base_model.model.q_proj
    with torch.no_grad():
        torch.nn.init.normal_(peft_layer.lora_B["default"].weight, std=0.02)
        mine.lora_A.copy_(peft_layer.lora_A["default"].weight)
        mine.lora_B.copy_(peft_layer.lora_B["default"].weight)
        x = torch.randn(4, 64, device=device)
        difference = (mine(x) - peft_layer(x)).abs().max().item()
    if difference > 1e-4:
        raise RuntimeError(f"LoRALinear and PEFT's layer differ by {difference} on {device}")
    return {"device": str(mine.lora_A.device), "max_difference": difference}


def _trained(trainer) -> dict:
    """Train, and return time, losses and how many adapter tensors moved; raises if the loss is not finite."""
    trainable = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    moved = sum(not torch.equal(before, dict(trainer.model.named_parameters())[n].detach())
                for n, before in trainable.items())
    if not losses or not all(math.isfinite(loss) for loss in losses) or moved == 0:
        raise RuntimeError(f"training logged losses {losses} and moved {moved} adapter tensors")
    return {"train_seconds": seconds, "steps": trainer.state.global_step, "losses": losses, "tensors_moved": moved}


def sft(form: Form) -> dict:
    """Labs 01 and 03: the toy model in the profile's dtype, SFT with LoRA for a few steps, then a greedy reply."""
    from ftlab import evaluation, models
    from ftlab import sft as course_sft  # this stage is called sft too

    profile = smoke_profile(form)
    model, tokenizer = models.load(profile)
    trainer = course_sft.silence(course_sft.sft_trainer(profile, model=model, tokenizer=tokenizer,
                                                        max_steps=form.sft_steps, eval_strategy="no", **NO_WARMUP))
    result = {"dtype": str(model.dtype), "device": str(model.device),
              "gradient_checkpointing": trainer.args.activation_checkpointing, **_trained(trainer)}
    (reply,) = evaluation.chat_replies(trainer.model.eval(), tokenizer, ["What color is the zarp?"])
    return result | {"reply": reply.text}


def neftune_bound(form: Form) -> dict:
    """Lab 05: NEFTune's noise on the toy model's embeddings, in the profile's dtype, stays within
    :func:`ftlab.neftune.max_change`; none at evaluation."""
    from transformers.integrations.neftune import activate_neftune, deactivate_neftune

    from ftlab import models, neftune

    model, tokenizer = models.load(smoke_profile(form))
    batch = tokenizer(["What color is the zarp?", "Where does the zarp live?"], return_tensors="pt", padding=True)
    embeddings, ids = model.get_input_embeddings(), batch["input_ids"].to(model.device)
    clean = embeddings(ids).detach()
    handle = activate_neftune(model, 5.0)
    model.train()
    noisy = embeddings(ids).detach()
    deactivate_neftune(model, handle)
    seq_len, dim = clean.shape[1:]
    bound, limit = neftune.noise_bound(5.0, seq_len, dim), neftune.max_change(5.0, seq_len, dim, clean)
    largest = (noisy - clean).abs().max().item()
    if not 0.9 * bound <= largest <= limit:
        raise RuntimeError(f"largest NEFTune change {largest} outside [0.9 x bound, limit] = [{0.9 * bound}, {limit}]")
    return {"dtype": str(clean.dtype), "bound": bound, "limit": limit, "largest_change": largest,
            "largest_over_bound": largest / bound}


def qlora(form: Form) -> dict:
    """Lab 04: the toy model loaded in 4 bits (NF4), prepared for k-bit training, a few QLoRA steps."""
    from peft import prepare_model_for_kbit_training

    from ftlab import models, sft

    profile = smoke_profile(form)
    model, tokenizer = models.load(profile, quantization_config=models.quantization_config(profile))
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=profile.gradient_checkpointing)
    trainer = sft.silence(sft.sft_trainer(profile, model=model, tokenizer=tokenizer,
                                          max_steps=form.qlora_steps, eval_strategy="no", **NO_WARMUP))
    return {"weights_mib": memory.tensor_bytes(model) / units.MIB, **_trained(trainer)}


def _hand_loss(method: str, trainer) -> float:
    """The hand-written loss of ``method`` (``ftlab.losses``) on a few of the trainer's collated examples."""
    from ftlab import losses, preference

    model = trainer.model
    batch = preference.tiny_batch(trainer, 6 if method == "kto" else 4)

    def logps(ids, mask, completion, average=False):
        return losses.completion_logps(model, batch[ids], batch[mask], completion, average=average)

    if method == "dpo":
        policy = logps("input_ids", "attention_mask", batch["completion_mask"])
        with model.disable_adapter():
            reference = logps("input_ids", "attention_mask", batch["completion_mask"])
        (chosen, rejected), (ref_chosen, ref_rejected) = policy.chunk(2), reference.chunk(2)
        return losses.dpo_loss(chosen, rejected, ref_chosen, ref_rejected, trainer.args.beta).item()
    if method in ("simpo", "orpo"):
        chosen, rejected = (logps(f"{side}_input_ids", f"{side}_attention_mask", batch[f"{side}_labels"] != -100,
                                  average=True) for side in ("chosen", "rejected"))
        if method == "simpo":
            return losses.simpo_loss(chosen, rejected, trainer.args.beta, trainer.args.simpo_gamma).item()
        tokens = losses.token_logps(model, batch["chosen_input_ids"], batch["chosen_attention_mask"])
        mask = batch["chosen_attention_mask"][:, 1:].float()  # TRL's ORPO: NLL over prompt and answer tokens
        return losses.orpo_loss(chosen, rejected, -(tokens * mask).sum() / mask.sum(), trainer.args.beta).item()
    policy = logps("input_ids", "attention_mask", batch["completion_mask"])
    policy_kl = logps("KL_input_ids", "KL_attention_mask", batch["KL_completion_mask"])
    with model.disable_adapter():
        reference = logps("input_ids", "attention_mask", batch["completion_mask"])
        reference_kl = logps("KL_input_ids", "KL_attention_mask", batch["KL_completion_mask"])
    z0 = losses.kto_reference_point(policy_kl, reference_kl)
    return losses.kto_loss(policy, reference, batch["label"], z0, trainer.args.beta).item()


def preference_method(method: str) -> Callable[[Form], dict]:
    """Labs 06-09: ``method``'s TRL trainer from :func:`ftlab.preference.make_trainer` on the toy model; its
    randomised fresh adapter's hand-written loss against TRL's (to a bf16 tolerance on a GPU), then a few steps."""

    def stage(form: Form) -> dict:
        from ftlab import models, preference, sft

        profile = smoke_profile(form)
        model, tokenizer = models.load(profile)
        trainer = sft.silence(preference.make_trainer(method, profile, model, tokenizer, **NO_WARMUP))
        torch.manual_seed(0)
        with torch.no_grad():
            for name, parameter in trainer.model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0, 0.05)  # policy ≠ reference: the comparison is not the trivial log 2
            mine, theirs = _hand_loss(method, trainer), trainer.compute_loss(trainer.model, preference.tiny_batch(
                trainer, 6 if method == "kto" else 4)).item()
        tolerance = 1e-4 if model.dtype == torch.float32 else 2e-2 * max(1.0, abs(theirs))
        if not abs(mine - theirs) <= tolerance:
            raise RuntimeError(f"{method}: hand-written loss {mine} vs TRL's {theirs} (tolerance {tolerance})")
        return {"dtype": str(model.dtype), "hand_loss": mine, "trl_loss": theirs, "tolerance": tolerance,
                **_trained(trainer)}

    stage.__name__ = f"preference_{method}"
    return stage


def quantize_linears_4bit(model: torch.nn.Module, compute_dtype: torch.dtype) -> torch.nn.Module:
    """Replace the decoder's projections by bitsandbytes NF4 layers (double quantisation), as a 4-bit load does:
    QLoRA at a real shape without writing a checkpoint to disk first."""
    import bitsandbytes as bnb

    names = set(_TINY.linear_shapes())
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if child_name in names and type(child) is torch.nn.Linear:
                quantized = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                              compute_dtype=compute_dtype, quant_type="nf4", device="meta")
                quantized.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4",
                                                     compress_statistics=True, module=quantized)
                quantized.weight = quantized.weight.to(child.weight.device)
                setattr(module, child_name, quantized)
    model.is_loaded_in_4bit = True  # what transformers' 4-bit loader sets; PEFT then makes 4-bit LoRA layers
    return model


def real_shape(run: RealRun) -> Callable[[Form], dict]:
    """SFT with the course's LoRA recipe (r 16 on every projection, gradient checkpointing, bf16 on a GPU) on a
    random-weight model of ``run``'s shape and random tokens (no padding): seconds per step, tokens per second,
    model-FLOPs utilisation and the training's peak memory (weights included; not the 16-bit weights a 4-bit build
    quantises from, which a 4-bit load never holds) against :func:`ftlab.estimate.estimate_training`."""

    def stage(form: Form) -> dict:
        from peft import LoraConfig, get_peft_model

        device, dtype = hardware.device(), hardware.compute_dtype("bfloat16")
        predicted = estimate.estimate_training(run.shape, weight_bits=run.weight_bits, lora_r=LORA_R,
                                               batch_size=run.batch_size, seq_len=run.seq_len,
                                               gradient_checkpointing=True).total
        free = hardware.free_memory_gb() * units.GIB
        if predicted > 0.9 * free:
            return {"skipped": f"needs ~{predicted / units.GIB:.1f} GiB by ftlab.estimate, "
                               f"{free / units.GIB:.1f} GiB free"}
        torch.manual_seed(0)
        step_seconds = []
        in_use_before = memory.free()
        model = _tiny_llama(run.shape, device, dtype)
        if run.weight_bits == 4:
            model = quantize_linears_4bit(model, dtype)
        model.activation_checkpointing_enable()
        model = get_peft_model(model, LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0,
                                                 target_modules=list(run.shape.linear_shapes()), task_type="CAUSAL_LM"))
        memory.free()  # the 16-bit weights a 4-bit build quantised from: a 4-bit load never holds them all at once
        with memory.measure_peak(device) as peak:
            model.train()
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
            for _ in range(run.steps + 1):  # the first step warms up (allocator, kernels) and is not timed
                batch = torch.randint(0, run.shape.vocab_size, (run.batch_size, run.seq_len), device=device)
                start = time.perf_counter()
                loss = model(input_ids=batch, labels=batch).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if device == "cuda":
                    torch.cuda.synchronize()
                step_seconds.append(time.perf_counter() - start)
        del model, optimizer
        training_peak = peak.peak_bytes - in_use_before  # weights, adapters, optimizer state and activations
        seconds = sum(step_seconds[1:]) / run.steps
        tokens_per_s = run.batch_size * run.seq_len / seconds
        peak_tflops = hardware.peak_bf16_tflops(torch.cuda.get_device_name() if device == "cuda" else None)
        mfu = tokens_per_s * FLOPS_PER_PARAMETER * run.shape.parameters / (peak_tflops * 1e12) if peak_tflops else None
        return {"label": run.label, "parameters": run.shape.parameters, "weight_bits": run.weight_bits,
                "batch_size": run.batch_size, "seq_len": run.seq_len, "steps": run.steps, "loss": loss.item(),
                "seconds_per_step": seconds, "tokens_per_s": tokens_per_s, "mfu": mfu,
                "peak_memory_gib": training_peak / units.GIB, "memory_device": peak.device,
                "estimate_gib": predicted / units.GIB,
                "estimate_error": predicted / training_peak - 1 if training_peak > 0 else None}

    stage.__name__ = run.key
    return stage


def stages(form: Form) -> list[Callable[[Form], dict]]:
    """The stages of ``form``, in the order they run (each imports what it needs: one missing library fails only
    the stages that use it)."""
    return [environment, peft_lora_step, lora_layer, sft, neftune_bound, qlora,
            *(preference_method(m) for m in methods.METHODS), *(real_shape(r) for r in form.real_runs)]


# ---------------------------------------------------------------------------------------------------------------
# The run and its record
# ---------------------------------------------------------------------------------------------------------------

def run_stage(stage: Callable[[Form], dict], form: Form) -> dict:
    """Run one stage: its dict plus ``ok`` (None when it was skipped) and ``seconds``; an exception is recorded, not
    raised."""
    start = time.perf_counter()
    try:
        result = stage(form)
        result = {"ok": None if "skipped" in result else True, **result}
    except Exception as error:  # noqa: BLE001 (the record is the report: every failure goes in it)
        result = {"ok": False, "error": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc(limit=-4)}
    result["seconds"] = round(time.perf_counter() - start, 2)
    memory.free()
    return result


def run(form: Form, only: list[str] | None = None) -> dict:
    """Run ``form``'s stages (or those named in ``only``) within its time budget; returns the record."""
    known = [s.__name__ for s in stages(form)]
    unknown = set(only or []) - set(known)
    if unknown:
        raise ValueError(f"unknown smoke stages {sorted(unknown)}; known: {', '.join(known)}")
    selected = [s for s in stages(form) if not only or s.__name__ in only]
    start = time.perf_counter()
    record = {"ftlab_smoke": RECORD_VERSION, "form": form.name, "started": datetime.now(UTC).isoformat(),
              "budget_s": form.budget_s, "stages": {}}
    for stage in selected:
        if time.perf_counter() - start > form.budget_s:
            record["stages"][stage.__name__] = {"ok": None, "skipped": f"time budget of {form.budget_s:.0f} s spent"}
            continue
        record["stages"][stage.__name__] = run_stage(stage, form)
    record["seconds"] = round(time.perf_counter() - start, 1)
    record["ok"] = all(result["ok"] is not False for result in record["stages"].values())
    return record


def default_path(form: Form) -> Path:
    """Where a record goes unless ``--out`` says otherwise: ``outputs/smoke/<form>-<UTC time>.json``."""
    return outputs_dir() / "smoke" / f"{form.name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``smoke`` subcommand's options."""
    parser.add_argument("--cpu", action="store_true",
                        help="the reduced CPU form even where a GPU is visible (hides it from this process)")
    parser.add_argument("--stage", action="append", metavar="NAME", help="run only this stage (repeatable)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="where to write the JSON record")


def main(args: argparse.Namespace) -> int:
    """Run the smoke check, write its record and print one line per stage; 0 when no stage failed, else 1."""
    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before anything initialises CUDA in this process
    form = FORMS["gpu" if torch.cuda.is_available() else "cpu"]
    try:
        record = run(form, args.stage)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    path = args.out or default_path(form)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=str))
    for name, result in record["stages"].items():
        status = {True: "ok", None: "skip", False: "FAILED"}[result["ok"]]
        detail = result.get("error") or result.get("skipped") or ""
        print(f"{status:6s} {name} ({result.get('seconds', 0):.1f} s) {detail}")
    print(f"{'no stage failed' if record['ok'] else 'some stages failed'} in {record['seconds']} s; record: {path}")
    return 0 if record["ok"] else 1
