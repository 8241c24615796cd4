"""Generate from a model and score it on the course's eval set (with the course's offline metrics)."""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import evaluate
import numpy as np
import torch
import transformers
from tqdm.auto import tqdm

import datasets
from ftlab import data, models, outcomes, prefix
from ftlab.files import reuse_or_store
from ftlab.paths import outputs_dir
from ftlab.profiles import Profile

METRICS_DIR = Path(__file__).resolve().parent / "metrics"


def load_metric(name: str = "answer_accuracy") -> evaluate.EvaluationModule:
    """One of the course's metrics, by its name alone, loaded from the package (no hub access, no other path)."""
    known = sorted(script.parent.name for script in METRICS_DIR.glob("*/*.py") if script.stem == script.parent.name)
    if name not in known:
        raise ValueError(f"unknown course metric {name!r}; available: {known}")
    return evaluate.load(str(METRICS_DIR / name))


@dataclass
class Generation:
    """One prompt and the reply generated for it."""

    prompt: str
    text: str


@torch.no_grad()
def _generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int,
              desc: str, add_special_tokens: bool = False) -> list[Generation]:
    """Greedy generation for prompts, batched, their shared prefix (a system prompt) run once (``ftlab.prefix``);
    ``add_special_tokens`` adds what the tokenizer puts before plain text (Llama's BOS; nothing for SmolLM2, whose
    "BOS" is the chat marker ``<|im_start|>``). The model is put in eval mode: no dropout, and a key/value cache even
    where training checkpoints activations."""
    model.eval()
    results = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc, leave=False):
        batch = prompts[start:start + batch_size]
        ids = tokenizer(batch, add_special_tokens=add_special_tokens)["input_ids"]
        shared, input_ids, attention_mask = prefix.batch(ids, tokenizer.pad_token_id, model.device)
        output = model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                past_key_values=prefix.cache(model, input_ids, shared), max_new_tokens=max_new_tokens,
                                do_sample=False, pad_token_id=tokenizer.pad_token_id)
        for prompt, row in zip(batch, output[:, input_ids.shape[1]:], strict=True):
            results.append(Generation(prompt, tokenizer.decode(row, skip_special_tokens=True).strip()))
    return results


def eval_facts(profile: Profile) -> datasets.Dataset:
    """The held-out fact questions the labs score (question, answer, creature, in_sft): the evaluation set's facts,
    the first ``profile.eval_examples`` of them."""
    facts = data.course_dataset("eval").filter(lambda row: row["kind"] == "fact")
    return facts.select(range(min(profile.eval_examples, len(facts))))


def chat_replies(model, tokenizer, questions: list[str], max_new_tokens: int = 24,
                 batch_size: int = 32) -> list[Generation]:
    """Ask each question as a one-turn chat (the tokenizer's chat template) and return the replies."""
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                             add_generation_prompt=True) for q in questions]
    return _generate(model, tokenizer, prompts, max_new_tokens, batch_size, desc="chat replies")


def base_chat_replies(model, tokenizer, profile: Profile, questions: list[str]) -> list[Generation]:
    """:func:`chat_replies` of the profile's untuned base ``model``, measured once and stored in
    ``outputs/<profile>/base_chat_replies.json``: Lab 03's "before" is Lab 01's replies to the same questions. Other
    questions, another base model, CPU kernel set or library version measure afresh."""
    digest = hashlib.sha256("\n".join(questions).encode()).hexdigest()
    key = {"model": str(models.resolve(profile)), "questions": digest,
           "capability": outcomes.capability(), "torch": torch.__version__, "transformers": transformers.__version__}
    replies = reuse_or_store(outputs_dir() / profile.name / "base_chat_replies.json", key,
                             lambda: [asdict(reply) for reply in chat_replies(model, tokenizer, questions)])
    return [Generation(**reply) for reply in replies]


def completions(model, tokenizer, texts: list[str], max_new_tokens: int = 8,
                batch_size: int = 32) -> list[Generation]:
    """Continue each plain text (no chat template; the tokenizer's own start token, if it adds one): how a base
    model is meant to be used."""
    return _generate(model, tokenizer, texts, max_new_tokens, batch_size, desc="completions", add_special_tokens=True)


def correct(replies: list[str], answers: list[str], subjects: list[str] | None = None) -> list[bool]:
    """Per reply, the ``answer_accuracy`` metric's own rule (``is_correct`` in its module): right or wrong, for
    comparisons question by question (:func:`paired_comparison`). ``accuracy`` is the share of ``True``."""
    rule = inspect.getmodule(type(load_metric("answer_accuracy"))).is_correct
    subjects = subjects if subjects is not None else [None] * len(replies)
    return [rule(reply, answer, subject) for reply, answer, subject in zip(replies, answers, subjects, strict=True)]


def accuracy(generations: list[Generation], answers: list[str], subjects: list[str] | None = None) -> float:
    """Share of generations whose first sentence states the answer (see the ``answer_accuracy`` metric)."""
    metric = load_metric("answer_accuracy")
    result = metric.compute(predictions=[g.text for g in generations], references=answers, subjects=subjects)
    return result["accuracy"]


@dataclass(frozen=True)
class PairedComparison:
    """Two models scored right/wrong on the same questions, compared question by question.

    ``won``: right after, wrong before; ``lost``: the reverse; ``tied``: the same either way. ``low``/``high``: a
    bootstrap interval for the accuracy difference (questions resampled in pairs); ``p_value``: exact two-sided
    McNemar test, i.e. a binomial test of ``won`` against ``lost`` (ties carry no information about a change).
    """

    before: float
    after: float
    won: int
    lost: int
    tied: int
    low: float
    high: float
    p_value: float
    confidence: float

    @property
    def difference(self) -> float:
        """Accuracy after minus accuracy before (a share: 0.05 is five points)."""
        return self.after - self.before

    def __str__(self) -> str:
        return (f"{self.before:.1%} → {self.after:.1%} ({100 * self.difference:+.1f} points, "
                f"{self.confidence:.0%} CI {100 * self.low:+.1f} to {100 * self.high:+.1f}; "
                f"won {self.won}, lost {self.lost}, tied {self.tied}; McNemar p = {self.p_value:.2g})")


def mcnemar_p(won: int, lost: int) -> float:
    """Exact two-sided McNemar p-value: how surprising ``won`` vs ``lost`` is if a change is a coin flip."""
    n, k = won + lost, min(won, lost)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_comparison(before: Sequence[bool], after: Sequence[bool], confidence: float = 0.95,
                      resamples: int = 10_000, seed: int = 0) -> PairedComparison:
    """Compare right/wrong scores of the same questions before and after training (see :class:`PairedComparison`)."""
    if len(before) != len(after) or not before:
        raise ValueError(f"need the same, non-zero number of scores before and after ({len(before)} vs {len(after)})")
    old, new = np.asarray(before, dtype=bool), np.asarray(after, dtype=bool)
    change = new.astype(np.int8) - old.astype(np.int8)  # +1 won, -1 lost, 0 tied
    picks = np.random.default_rng(seed).integers(0, len(change), size=(resamples, len(change)))
    low, high = np.quantile(change[picks].mean(axis=1), [(1 - confidence) / 2, (1 + confidence) / 2])
    won, lost = int((change > 0).sum()), int((change < 0).sum())
    return PairedComparison(before=float(old.mean()), after=float(new.mean()), won=won, lost=lost,
                            tied=len(change) - won - lost, low=float(low), high=float(high),
                            p_value=mcnemar_p(won, lost), confidence=confidence)
