"""Preference optimisation (Labs 06-09): DPO, SimPO, ORPO and KTO with TRL, measured the same way.

* The four losses written out by hand are in ``ftlab.losses``; ``tiny_batch`` collates a few of a trainer's own
  examples to check them against TRL's loss on the same inputs.
* ``start_model``: Lab 03's SFT model, where every method starts; ``make_trainer``: TRL's trainer for a method,
  configured from the profile, training a fresh LoRA adapter on top of it.
* ``measure``: held-out preference accuracy (chosen log-prob over rejected, summed and per token), margin and fact
  accuracy, compared question by question with the SFT model; ``expect_gains``: the outcomes every lab asserts.
* ``run`` / ``record`` / ``results``: one measured run per method, stored under ``outputs/<profile>/``; Lab 09
  compares the four (``ftlab.comparison``) and re-runs whichever record is missing or stale.
"""

from __future__ import annotations

import gc
import hashlib
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
import trl
from peft import PeftModel

import datasets
from ftlab import data, evaluation, memory, models, outcomes, prefix, sft, units
from ftlab.files import reuse_or_store, staged_file
from ftlab.methods import METHODS
from ftlab.methods import get as _method
from ftlab.paths import DATASETS_DIR, outputs_dir
from ftlab.profiles import Profile

RECIPE_VERSION = 3  # bump when how a run is trained or measured changes: older records are then re-run


# ---------------------------------------------------------------------------------------------------------------
# Start model, data and trainers
# ---------------------------------------------------------------------------------------------------------------

def start_model(profile: Profile):
    """Lab 03's SFT model as one plain model — base model plus SFT adapter, merged — and its tokenizer.

    Each method then trains a *fresh* LoRA adapter on it. With that adapter switched off the model is exactly
    the SFT model, which is DPO's and KTO's reference: TRL uses it that way instead of loading a second copy.
    """
    base, tokenizer = models.load(profile)
    model = PeftModel.from_pretrained(base, sft.ensure_sft_adapter(profile)).merge_and_unload()
    return model.eval(), tokenizer


def train_data(method: str) -> datasets.Dataset:
    """The course dataset ``method`` trains on: pairs (``prompt/chosen/rejected``) or, for KTO, labelled answers."""
    return data.course_dataset(_method(method).dataset)


def config(method: str, profile: Profile, output_dir: str | Path | None = None, seed: int | None = None,
           **overrides):
    """The TRL config of ``method`` from the profile: steps, learning rate, batch, length, precision, no saving."""
    steps = overrides.pop("max_steps", profile.preference_steps)
    output_dir = output_dir or tempfile.mkdtemp(prefix=f"ftlab-{method}-")
    settings = sft.shared_settings(profile, output_dir, steps, seed) | {
        "learning_rate": profile.preference_learning_rate,
        "per_device_train_batch_size": profile.batch_size * _method(method).batch_factor,
        **_method(method).settings,
    }
    if _method(method).raw_columns:  # its collator needs the raw columns; saying so silences TRL's warning
        settings["remove_unused_columns"] = False
    return _method(method).config_class(**settings | overrides)


def make_trainer(method: str, profile: Profile, model=None, tokenizer=None, seed: int | None = None, **overrides):
    """TRL's trainer for ``method`` (``DPOTrainer``; SimPO as ``CPOTrainer`` with ``loss_type="simpo"`` and
    ``cpo_alpha=0``; ``ORPOTrainer``; ``KTOTrainer``), ready to train a fresh LoRA adapter on the SFT model."""
    if model is None:
        model, tokenizer = start_model(profile)
    return _method(method).trainer_class(model=model, args=config(method, profile, seed=seed, **overrides),
                         train_dataset=train_data(method), processing_class=tokenizer,
                         peft_config=sft.lora_config(profile))


def trainer_metrics(log_history: list[dict], keys: list[str]) -> dict[str, list[float]]:
    """The trainer's own logged metrics (e.g. ``rewards/margins``), one list per key, in logging order."""
    return {key: [entry[key] for entry in log_history if key in entry] for key in keys}


def tiny_batch(trainer, size: int = 4) -> dict:
    """The first ``size`` training examples, collated by the trainer's own collator, on the model's device."""
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(size)])
    return {k: v.to(trainer.model.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


# ---------------------------------------------------------------------------------------------------------------
# Measurements: the same for every method
# ---------------------------------------------------------------------------------------------------------------

def _answer_tokens(tokenizer, rows: datasets.Dataset, prompt_ids: list[list[int]]) -> list[list[int]]:
    """Chosen, rejected, chosen, ...: each answer's tokens after its pair's prompt in the templated conversation."""
    answers = []
    for row, ids in zip(rows, prompt_ids, strict=True):
        for key in ("chosen", "rejected"):
            text = tokenizer.apply_chat_template(row["prompt"] + row[key], tokenize=False)
            whole = tokenizer(text, add_special_tokens=False)["input_ids"]
            if whole[:len(ids)] != ids:
                raise ValueError(f"the chat template's prompt is not a token prefix of the conversation with its {key} "
                                 f"answer: {text!r}")
            answers.append(whole[len(ids):])
    return answers


def _answer_logps(model, prompt_ids: list[list[int]], answers: list[list[int]],
                  pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probability and token count of each answer, two per prompt: the prompts run once (their shared
    prefix once for all, ``ftlab.prefix``) and both answers continue from the key/value cache."""
    shared, prompt, prompt_mask = prefix.batch(prompt_ids, pad, model.device)
    out = model(input_ids=prompt[:, shared:], attention_mask=prompt_mask, use_cache=True, logits_to_keep=1,
                past_key_values=prefix.cache(model, prompt, shared),
                position_ids=prefix.positions(prompt_mask)[:, shared:])
    cache, next_logits = out.past_key_values, out.logits[:, -1:].float().repeat_interleave(2, dim=0)
    cache.batch_repeat_interleave(2)  # each prompt, once for its chosen and once for its rejected answer
    prompt_mask = prompt_mask.repeat_interleave(2, dim=0)
    length = max(map(len, answers))
    answer = torch.tensor([ids + [pad] * (length - len(ids)) for ids in answers], device=model.device)
    answer_mask = torch.tensor([[1] * len(ids) + [0] * (length - len(ids)) for ids in answers], device=model.device)
    logits = model(input_ids=answer, attention_mask=torch.cat([prompt_mask, answer_mask], dim=-1),
                   past_key_values=cache,
                   position_ids=prompt_mask.sum(-1, keepdim=True) + torch.arange(length, device=model.device)).logits
    logits = torch.cat([next_logits, logits[:, :-1].float()], dim=1)  # the logits that predict each answer token
    token_logps = torch.log_softmax(logits, dim=-1).gather(-1, answer[..., None]).squeeze(-1)
    return (token_logps * answer_mask).sum(-1).cpu(), answer_mask.sum(-1).cpu()


@torch.no_grad()
def pair_scores(model, tokenizer, pairs: datasets.Dataset, batch_size: int = 32) -> dict[str, torch.Tensor]:
    """Log-probabilities of each pair's chosen and rejected answer under the chat template: summed over the answer's
    tokens (``chosen``, ``rejected``) and per token (``chosen_avg``, ``rejected_avg``: the length-normalised score
    SimPO and ORPO use).

    The same numbers as scoring each whole conversation (``losses.completion_logps``, to ~1e-5 nats in float32) at
    about 40% of the time: each prompt runs once for both answers, its shared prefix once per batch."""
    model.eval()
    results = {key: [] for key in ("chosen", "rejected", "chosen_avg", "rejected_avg")}
    for start in range(0, len(pairs), batch_size):
        rows = pairs.select(range(start, min(len(pairs), start + batch_size)))
        prompts = [tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
                   for row in rows]
        prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        total, count = _answer_logps(model, prompt_ids, _answer_tokens(tokenizer, rows, prompt_ids),
                                     tokenizer.pad_token_id)
        for offset, key in enumerate(("chosen", "rejected")):
            results[key].append(total[offset::2])
            results[f"{key}_avg"].append(total[offset::2] / count[offset::2])
    return {key: torch.cat(values) for key, values in results.items()}


def pair_logps(model, tokenizer, pairs: datasets.Dataset, batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probabilities of each pair's chosen and rejected answer (see :func:`pair_scores`)."""
    scores = pair_scores(model, tokenizer, pairs, batch_size)
    return scores["chosen"], scores["rejected"]


def measure(model, tokenizer, profile: Profile, baseline: dict | None = None) -> dict:
    """Held-out figures for one model, the same for every method.

    On ``preference_eval`` (its first ``profile.eval_examples`` pairs): preference accuracy (chosen scores above
    rejected) both ways — summed log-probs, and per token, which is what SimPO and ORPO optimise and which a length
    difference cannot decide — and the mean summed margin. On the evaluation's fact questions:
    :func:`measure_facts`. Given the SFT model's ``baseline`` measurement, both accuracies are also compared with it
    question by question (:func:`ftlab.evaluation.paired_comparison`).
    """
    pairs = data.course_dataset("preference_eval")
    pairs = pairs.select(range(min(profile.eval_examples, len(pairs))))  # the profile's share, as for the facts
    scores = pair_scores(model, tokenizer, pairs)
    chosen, rejected, chosen_avg, rejected_avg = (scores[k] for k in ("chosen", "rejected", "chosen_avg",
                                                                       "rejected_avg"))
    pair_correct = (chosen > rejected).tolist()
    result = {"preference_accuracy": sum(pair_correct) / len(pair_correct),
              "preference_accuracy_per_token": (chosen_avg > rejected_avg).float().mean().item(),
              "margin": (chosen - rejected).mean().item(), "pair_correct": pair_correct,
              **measure_facts(model, tokenizer, profile, baseline)}
    if baseline is not None:
        result["preference_comparison"] = evaluation.paired_comparison(baseline["pair_correct"], pair_correct)
    return result


def measure_facts(model, tokenizer, profile: Profile, baseline: dict | None = None, base_model: bool = False) -> dict:
    """The fact half of :func:`measure`: greedy replies to the evaluation's fact questions, their accuracy and mean
    length in tokens (preference tuning can buy wins with longer replies); compared question by question with a
    ``baseline`` measurement, if given. ``base_model=True`` says ``model`` is the untuned base model, whose replies
    Lab 01 kept (:func:`ftlab.evaluation.base_chat_replies`)."""
    facts = evaluation.eval_facts(profile)
    if base_model:
        generations = evaluation.base_chat_replies(model, tokenizer, profile, facts["question"])
    else:
        generations = evaluation.chat_replies(model, tokenizer, facts["question"])
    replies = [g.text for g in generations]
    correct = evaluation.correct(replies, facts["answer"], facts["creature"])
    reply_tokens = [len(ids) for ids in tokenizer(replies, add_special_tokens=False)["input_ids"]]
    result = {"fact_accuracy": sum(correct) / len(correct), "reply_tokens": sum(reply_tokens) / len(reply_tokens),
              "correct": correct, "replies": replies}
    if baseline is not None:
        result["fact_comparison"] = evaluation.paired_comparison(baseline["correct"], correct)
    return result


def before_after(before: dict, after: dict) -> pd.DataFrame:
    """The SFT model and the tuned one side by side: each held-out figure, and the paired comparisons."""
    rows = {"preference accuracy (summed log-probs)": "preference_accuracy",
            "preference accuracy (per token)": "preference_accuracy_per_token",
            "mean margin (nats)": "margin", "fact accuracy": "fact_accuracy",
            "mean reply length (tokens)": "reply_tokens"}
    table = pd.DataFrame({"SFT model": [before[key] for key in rows.values()],
                          "after": [after[key] for key in rows.values()]}, index=list(rows)).round(3)
    table["question by question"] = ["" if "per token" in name or "margin" in name or "length" in name else
                                     str(after["preference_comparison" if "preference" in name else "fact_comparison"])
                                     for name in rows]
    return table


def expect_gains(profile: Profile, lab: str, before: dict, after: dict) -> None:
    """Every preference lab's outcomes (``ftlab.outcomes``): the rise of the held-out mean margin, and the lower ends
    of the intervals for the preference- and fact-accuracy changes. Which of them a profile asserts is decided in
    each lab's ``THRESHOLDS`` (``labs/NN_topic/lab.py``): measured across seeds × CPU kernels, only the margin rises
    in every run."""
    outcomes.expect(profile, f"{lab}.preference_gain_low", after["preference_comparison"].low)
    outcomes.expect(profile, f"{lab}.margin_gain", after["margin"] - before["margin"])
    outcomes.expect(profile, f"{lab}.fact_gain_low", after["fact_comparison"].low)


def train_measured(trainer) -> dict:
    """Train, measuring wall time and peak memory (peak RSS rise on CPU, max allocated on CUDA)."""
    gc.collect()
    memory.release_free_heap()
    start = time.perf_counter()
    with memory.measure_peak() as peak:
        trainer.train()
    return {"train_seconds": time.perf_counter() - start, "peak_memory_mib": peak.delta_mib,
            "memory_device": peak.device, "steps": trainer.state.global_step}


# ---------------------------------------------------------------------------------------------------------------
# Records for Lab 09's comparison
# ---------------------------------------------------------------------------------------------------------------

def record_path(profile: Profile, method: str) -> Path:
    """Where a method's measured run is stored: ``outputs/<profile>/preference_<method>.json``."""
    return outputs_dir() / profile.name / f"preference_{method}.json"


def _data_digest() -> str:
    files = ["preference.jsonl", "preference_eval.jsonl", "unpaired.jsonl", "eval.jsonl"]
    return hashlib.sha256(b"".join((DATASETS_DIR / name).read_bytes() for name in files)).hexdigest()[:16]


def recipe(method: str, profile: Profile) -> dict:
    """Everything that decides a run's figures; a record made with another recipe is stale and re-run."""
    sft_stamp = sft.sft_adapter_dir(profile) / "ftlab_base.txt"
    return {"version": RECIPE_VERSION, "method": method, "settings": _method(method).settings,
            "steps": profile.preference_steps, "learning_rate": profile.preference_learning_rate,
            "batch_size": profile.batch_size * _method(method).batch_factor, "grad_accum": profile.grad_accum,
            "lora_r": profile.lora_r, "seed": profile.seed,
            "max_length": profile.max_seq_length, "data": _data_digest(), "trl": trl.__version__,
            "base": sft_stamp.read_text() if sft_stamp.is_file() else None}


def _adapter_digest(profile: Profile) -> str | None:
    weights = sft.sft_adapter_dir(profile) / "adapter_model.safetensors"
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:16] if weights.is_file() else None


def start_measurement(model, tokenizer, profile: Profile) -> dict:
    """:func:`measure` of the SFT model every method starts from, measured once per SFT adapter and stored in
    ``outputs/<profile>/preference_start.json``: Labs 07-09 reuse Lab 06's instead of measuring the same model
    again. Another adapter, dataset, eval size, recipe version or CPU kernel set measures afresh."""
    key = {"version": RECIPE_VERSION, "data": _data_digest(), "adapter": _adapter_digest(profile),
           "eval_examples": profile.eval_examples, "capability": outcomes.capability(), "torch": torch.__version__}
    if key["adapter"] is None:  # no adapter file to identify the SFT model by: nothing to reuse
        return measure(model, tokenizer, profile)
    return reuse_or_store(outputs_dir() / profile.name / "preference_start.json", key,
                          lambda: measure(model, tokenizer, profile))


FIGURES = ("preference_accuracy", "preference_accuracy_per_token", "margin", "fact_accuracy", "reply_tokens")


def figures(method: str, profile: Profile, before: dict, after: dict, cost: dict, trainer) -> dict:
    """One method's measured run as a record: recipe, cost, before/after figures, reference model in memory."""
    reference = getattr(trainer, "ref_model", None)
    return {"recipe": recipe(method, profile), "method": _method(method).title,
            "needs_pairs": _method(method).needs_pairs, "needs_reference": _method(method).needs_reference,
            "reference_copy_mib": memory.tensor_bytes(reference) / units.MIB if reference is not None else 0.0,
            **cost,
            **{f"{key}_{when}": measured[key] for key in FIGURES
               for when, measured in (("before", before), ("after", after))},
            **{key: asdict(after[key]) for key in ("preference_comparison", "fact_comparison")}}


def record(profile: Profile, method: str, result: dict) -> Path:
    """Store a run's figures for Lab 09 (written to a temporary file, then renamed over any older record)."""
    path = record_path(profile, method)
    with staged_file(path, replace=True) as staging:
        staging.write_text(json.dumps(result, indent=1))
    return path


def run(method: str, profile: Profile, seed: int | None = None) -> tuple[dict, object]:
    """A whole measured run, as Labs 06-09 do it cell by cell: SFT model, before, train, after; returns the
    record's figures and the trainer."""
    model, tokenizer = start_model(profile)
    before = start_measurement(model, tokenizer, profile)
    trainer = make_trainer(method, profile, model, tokenizer, seed=seed)
    cost = train_measured(trainer)
    after = measure(trainer.model, tokenizer, profile, baseline=before)
    return figures(method, profile, before, after, cost, trainer), trainer


def results(profile: Profile, methods: list[str] | None = None) -> dict[str, dict]:
    """Each method's recorded run; a missing or stale record (another recipe) is re-run and recorded first."""
    found = {}
    for method in methods or list(METHODS):
        path = record_path(profile, method)
        stored = json.loads(path.read_text()) if path.is_file() else None
        if stored is None or stored.get("recipe") != recipe(method, profile):
            stored, _ = run(method, profile)
            record(profile, method, stored)
        found[method] = stored
    return found
