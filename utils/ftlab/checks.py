"""Exercise checkers: each says what is right, or exactly what is wrong and a hint — never just "no"."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass


@dataclass
class Feedback:
    """A checker's verdict; shows as Markdown in a notebook and is truthy when the answer is right."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def _repr_markdown_(self) -> str:
        return ("✅ " if self.ok else "❌ ") + self.message


def _number(answer) -> float | None:
    """An answer as a float if it is a number (int, float, numpy scalar, 0-d tensor), else ``None``."""
    if isinstance(answer, bool) or answer is None or isinstance(answer, str):
        return None
    try:
        value = float(answer.item() if hasattr(answer, "item") else answer)
    except (TypeError, ValueError, RuntimeError):
        return None
    return value if math.isfinite(value) else None


def _whole(answer) -> int | None:
    """A count given as any number with no fractional part (``951424``, ``951424.0``, ``np.int64(...)``)."""
    value = _number(answer)
    return int(value) if value is not None and value == int(value) else None


def _matches(answer: float, expected: float, digits: int) -> bool:
    """``answer`` agrees with ``expected`` to ``digits`` significant figures, rounded or cut off (within one unit
    of the last digit asked for)."""
    if expected == 0:
        return abs(answer) < 10 ** -digits
    unit = 10 ** (math.floor(math.log10(abs(expected))) - (digits - 1))
    return abs(answer - expected) <= unit * (1 + 1e-9)


def _softplus(x: float) -> float:
    """``log(1 + e^x)`` without overflow for large ``x``."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _first_difference(answer: str, expected: str) -> int:
    for i, (a, b) in enumerate(zip(answer, expected, strict=False)):
        if a != b:
            return i
    return min(len(answer), len(expected))


def check_chat_prompt(answer: str, tokenizer, messages: list[dict], add_generation_prompt: bool = True) -> Feedback:
    """Check a hand-written chat prompt against what the tokenizer's chat template renders."""
    if not isinstance(answer, str):
        return Feedback(False, f"write the prompt as a string, not a {type(answer).__name__}")
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    if answer == expected:
        return Feedback(True, "exactly what the chat template renders — this is the text the model sees.")
    at = _first_difference(answer, expected)
    hints = []
    if tokenizer.bos_token and expected.startswith(tokenizer.bos_token) and not answer.startswith(tokenizer.bos_token):
        hints.append(f"it must start with the token {tokenizer.bos_token!r}")
    turns = len(messages)
    if tokenizer.eos_token and answer.count(tokenizer.eos_token) != expected.count(tokenizer.eos_token):
        hints.append(f"every one of the {turns} turns ends with the EOS token {tokenizer.eos_token!r} "
                     f"(you have {answer.count(tokenizer.eos_token)})")
    without_prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    generation_prompt = expected[len(without_prompt):]
    if add_generation_prompt and generation_prompt and not answer.endswith(generation_prompt):
        hints.append(f"it must end with the generation prompt {generation_prompt!r}, which invites the reply")
    detail = f"first difference at character {at}: you wrote {answer[at:at + 20]!r}, expected {expected[at:at + 20]!r}"
    return Feedback(False, "; ".join(hints + [detail]))


def check_parameter_count(answer, model) -> Feedback:
    """Check a hand-computed parameter count against the model's own count, with a hint from the model's config
    (tied or separate embedding and LM head, biases, grouped-query attention)."""
    expected = model.num_parameters()
    count = _whole(answer)
    if count is None:
        return Feedback(False, f"give a whole number of parameters, not {answer!r}")
    if count == expected:
        return Feedback(True, f"{expected:,} parameters — right.")
    config = model.config
    embedding = config.vocab_size * config.hidden_size
    tied = bool(getattr(config, "tie_word_embeddings", False))
    biases = sum(p.numel() for name, p in model.named_parameters() if name.endswith(".bias"))
    if tied and count == expected + embedding:
        hint = ("this model ties its input embedding and LM head (tie_word_embeddings=True): they are one "
                "vocab×hidden matrix, counted once")
    elif not tied and count == expected - embedding:
        hint = ("you left out one of the two vocab×hidden matrices (input embedding or LM head; this model does "
                "not tie them)")
    elif biases and count == expected - biases:
        hint = f"you left out the biases ({biases:,} parameters: this model's q/k/v projections have them)"
    elif count < expected:
        hint = ("too low: count q/k/v/o, gate/up/down, both RMSNorm weights per layer, the final norm, the "
                "embedding and the LM head")
    else:
        hint = "too high: k_proj and v_proj have num_key_value_heads × head_dim outputs, not hidden_size"
    return Feedback(False, f"{count:,} is off by {count - expected:+,}; {hint}")


def check_lora_parameters(answer, shape, r: int, targets: list[str]) -> Feedback:
    """Check a hand count of LoRA's trainable parameters for ``shape`` with rank ``r`` on ``targets``."""
    from ftlab.estimate import lora_parameters

    expected = lora_parameters(shape, r, targets)
    answer = _whole(answer)
    if answer is None:
        return Feedback(False, "give a whole number of parameters")
    if answer == expected:
        return Feedback(True, f"{expected:,} trainable parameters — r × (in + out) per target, per layer.")
    per_layer = expected // shape.num_layers
    dims = shape.linear_shapes()
    if answer == per_layer:
        hint = f"that is one layer; the model has {shape.num_layers}"
    elif answer == shape.num_layers * sum(a * b for name, (a, b) in dims.items() if name in targets):
        hint = "that is the size of the frozen weights W; LoRA trains A (r × in) and B (out × r) instead"
    elif answer == shape.num_layers * sum(r * a for name, (a, _) in dims.items() if name in targets):
        hint = "you counted only A (r × in); B (out × r) is trained too"
    else:
        hint = "per target it is r × (in + out); k_proj and v_proj have a smaller output (grouped-query attention)"
    return Feedback(False, f"{answer:,} is off by {answer - expected:+,}: {hint}")


def _log(train: list[float], evals: list[float]) -> list[dict]:
    """A trainer-style log history: train loss every step, eval loss spread evenly over the run."""
    history = [{"step": i + 1, "loss": loss} for i, loss in enumerate(train)]
    stride = max(1, len(train) // len(evals))
    history += [{"step": (i + 1) * stride, "eval_loss": loss} for i, loss in enumerate(evals)]
    return sorted(history, key=lambda h: h["step"])


OVERFITTING_CASES = {
    "healthy: both losses fall together": (_log([2.0, 1.5, 1.1, 0.9, 0.8, 0.75, 0.7, 0.68], [1.6, 1.0, 0.8, 0.76]),
                                           False),
    "eval loss turns up while train keeps falling": (_log([2.0, 1.2, 0.8, 0.5, 0.3, 0.15, 0.08, 0.05],
                                                          [1.5, 0.9, 1.1, 1.6]), True),
    "eval far above train at the end": (_log([1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.18, 0.15], [1.3, 1.1, 1.0, 0.9]),
                                        True),
    "noisy but improving": (_log([2.0, 1.6, 1.7, 1.2, 1.3, 1.0, 1.05, 0.95], [1.7, 1.3, 1.1, 1.05]), False),
    "low losses, eval close behind train": (_log([1.2, 0.6, 0.35, 0.2, 0.14, 0.11, 0.1, 0.09],
                                                 [0.7, 0.3, 0.16, 0.12]), False),
    "eval creeps up, still close to train": (_log([1.4, 1.2, 1.05, 0.95, 0.9, 0.86, 0.83, 0.8],
                                                  [1.1, 0.95, 1.0, 1.08]), True),
}
OVERFITTING_HINTS = {  # per case: what a detector that gets it wrong most likely does
    "healthy: both losses fall together": "nothing is wrong here: both losses fall and stay close",
    "eval loss turns up while train keeps falling": "compare the last eval loss with the best (lowest) one",
    "eval far above train at the end": "compare the final eval loss with the final train loss (a gap above ~0.5)",
    "noisy but improving": "a noisy train loss is not overfitting: look at the eval loss",
    "low losses, eval close behind train": "a low train loss alone is no signal: it must be read with the eval loss",
    "eval creeps up, still close to train": "the gap is small, but the eval loss rose from its best while train "
                                            "fell: check that too, not only the gap",
}


def check_overfitting_detector(detector) -> Feedback:
    """Run a student's ``detector(log_history) -> bool`` on labelled logs and report the first case it gets wrong.
    Each case is handed over as a fresh copy, so a detector that changes its input cannot spoil later checks."""
    if not callable(detector):
        return Feedback(False, "pass your function itself (e.g. `is_overfitting`), not its result")
    for name, (history, expected) in OVERFITTING_CASES.items():
        try:
            verdict = detector(copy.deepcopy(history))
        except Exception as exc:  # report any error in the student's code, whatever it is
            return Feedback(False, f"your detector raised {type(exc).__name__}: {exc} on the case '{name}'")
        if verdict is None:
            return Feedback(False, "your detector returned None: did you forget `return`?")
        if bool(verdict) != expected:
            said = "overfitting" if verdict else "fine"
            return Feedback(False, f"case '{name}': you said {said}. Hint: {OVERFITTING_HINTS[name]}")
    return Feedback(True, f"all {len(OVERFITTING_CASES)} cases right: rising eval loss and a large eval−train gap "
                          "are the two signals to watch.")


def check_weight_memory(answer_gb, parameters: int, bits: float) -> Feedback:
    """Check a weights-memory estimate in GB (10^9 bytes) for ``parameters`` stored at ``bits`` per weight,
    accepted within 10%."""
    expected = parameters * bits / 8 / 1e9
    answer = _number(answer_gb)
    if answer is None:
        return Feedback(False, f"give a number of GB, not {answer_gb!r}")
    if abs(answer - expected) <= 0.1 * expected:
        gib = expected * 1e9 / 2**30
        note = " (your number is closer to the size in GiB, 2³⁰ bytes; GB are 10⁹)" if abs(answer - gib) < abs(
            answer - expected) else ""
        return Feedback(True, f"≈ {expected:.1f} GB: parameters × {bits:g} bits ÷ 8 bits per byte.{note}")
    near = {}  # each typical mistake's result; where two give the same number, both are named
    near.setdefault(parameters * bits / 1e9, []).append(f"you forgot to divide {bits:g} bits by 8")
    near.setdefault(parameters * 16 / 8 / 1e9, []).append("that is the 16-bit size")
    near.setdefault(parameters * 32 / 8 / 1e9, []).append("that is the float32 size (4 bytes per weight)")
    near.setdefault(expected * 1e9 / 2**30, []).append("that is GiB (2³⁰ bytes); the exercise asks for GB (10⁹)")
    for value, hints in near.items():
        if abs(answer - value) <= 0.03 * value:
            return Feedback(False, f"{answer:g} GB: " + ", or ".join(hints))
    return Feedback(False, f"{answer:g} GB is off (expected within 10% of the right answer); "
                           "multiply the parameters by the bits per weight and divide by 8 for bytes")


def check_neftune_scale(answer, alpha: float, seq_len: int, dim: int) -> Feedback:
    """Check the largest NEFTune perturbation per embedding value, alpha / sqrt(seq_len × dim), to two
    significant figures."""
    expected = alpha / (seq_len * dim) ** 0.5
    value = _number(answer)
    if value is None:
        return Feedback(False, f"give a number, not {answer!r}")
    answer = value
    if _matches(answer, expected, digits=2):
        return Feedback(True, f"{expected:.4g}: each value moves by at most alpha / sqrt(L·d).")
    if abs(answer - alpha / seq_len**0.5) <= 0.01 * expected or abs(answer - alpha / dim**0.5) <= 0.01 * expected:
        return Feedback(False, "the square root covers both the sequence length L and the embedding width d")
    if abs(answer - alpha / (seq_len * dim)) <= 0.01 * expected:
        return Feedback(False, "divide by the square root of L·d, not by L·d itself")
    return Feedback(False, f"{answer:g} is not alpha / sqrt(L·d) for alpha={alpha}, L={seq_len}, d={dim}")


def _mean_dpo_loss(margins: list[float], beta: float) -> float:
    """Mean of −log σ(β·m) over log-ratio margins m (the DPO loss of a batch)."""
    return sum(_softplus(-beta * m) for m in margins) / len(margins)


def check_dpo_beta(prediction: str, margins, beta: float, new_beta: float) -> Feedback:
    """Check a predicted direction ("higher"/"lower") of the DPO loss when β changes, on fixed log-ratio margins
    ``(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))`` of a batch."""
    margins = [float(m) for m in margins]
    prediction = prediction.strip().lower() if isinstance(prediction, str) else prediction
    if prediction not in ("higher", "lower"):
        return Feedback(False, 'predict with one word: "higher" or "lower"')
    old, new = _mean_dpo_loss(margins, beta), _mean_dpo_loss(margins, new_beta)
    truth = "higher" if new > old else "lower"
    won = sum(m > 0 for m in margins)
    detail = (f"loss {old:.4f} at β={beta:g} → {new:.4f} at β={new_beta:g}; {won} of {len(margins)} pairs have a "
              "positive margin")
    if prediction == truth:
        return Feedback(True, f"{truth}: {detail}. β scales the margin inside the sigmoid, so pairs already won look "
                              "more won and pairs lost are punished harder; the batch's mix decides.")
    return Feedback(False, f"it gets {truth}: {detail}. Hint: −log σ(β·m) falls as β grows when m > 0 and rises "
                           "when m < 0.")


def check_simpo_gamma(answer, chosen_avg, rejected_avg, beta: float, gamma: float) -> Feedback:
    """Check a hand-computed SimPO loss ``mean(−log σ(β·(avg_w − avg_l) − γ))`` for the given γ, to three
    significant figures."""
    value = _number(answer)
    if value is None:
        return Feedback(False, f"give a number, not {answer!r}")
    answer = value
    gaps = [float(c) - float(r) for c, r in zip(chosen_avg, rejected_avg, strict=True)]

    def loss(g: float, shift: float = 1.0) -> float:
        return sum(_softplus(-(beta * d - g * shift)) for d in gaps) / len(gaps)

    expected = loss(gamma)
    if _matches(answer, expected, digits=3):
        return Feedback(True, f"{expected:.4f}: a larger target margin γ makes every pair harder to count as won.")
    for wrong, hint in [(loss(0.0), "you left γ out: SimPO subtracts it inside the sigmoid"),
                        (loss(gamma, -1.0), "γ is subtracted, not added: the chosen answer must win by γ"),
                        (loss(gamma / beta), "you subtracted γ/β after multiplying by β: β·(Δ − γ/β) is β·Δ − γ")]:
        if _matches(answer, wrong, digits=3):
            return Feedback(False, f"{answer:.4f}: {hint}")
    return Feedback(False, f"{answer:.4f} is not the SimPO loss here; use the per-token averages, "
                           "−log σ(β·(avg_w − avg_l) − γ), and average over the pairs")


def check_orpo_lambda(answer, nll: float, log_odds_ratio: float, lam: float) -> Feedback:
    """Check ORPO's loss for weight λ from the trainer's logged parts: ``nll − λ·log_odds_ratio``, where
    ``log_odds_ratio`` is the logged mean of log σ(log odds(y_w) − log odds(y_l)) (always ≤ 0); to three
    significant figures."""
    value = _number(answer)
    if value is None:
        return Feedback(False, f"give a number, not {answer!r}")
    answer = value
    expected = nll - lam * log_odds_ratio
    if _matches(answer, expected, digits=3):
        return Feedback(True, f"{expected:.4f}: the SFT part is unchanged; λ only scales the odds-ratio penalty.")
    for wrong, hint in [(nll + lam * log_odds_ratio, "the sign: ORPO subtracts λ·log σ(…), and log σ is negative, "
                                                     "so the odds-ratio part adds to the loss"),
                        (-lam * log_odds_ratio, "you left out the SFT part (nll_loss): ORPO is SFT plus a penalty"),
                        (nll, "λ multiplies the odds-ratio part; with λ > 0 it is not zero")]:
        if _matches(answer, wrong, digits=3):
            return Feedback(False, f"{answer:.4f}: {hint}")
    return Feedback(False, f"{answer:.4f} is off: the loss is nll_loss − λ × log_odds_ratio from the logs")


def check_kto_weights(answer, n_desirable: int, n_undesirable: int, undesirable_weight: float = 1.0) -> Feedback:
    """Check a ``desirable_weight`` for imbalanced KTO data against the KTO paper's range (TRL warns outside it):
    ``desirable_weight · n_desirable / (undesirable_weight · n_undesirable)`` between 1 and 4/3."""
    answer = _number(answer)
    if answer is None or answer <= 0:
        return Feedback(False, "give a positive number for desirable_weight")
    low = n_undesirable * undesirable_weight / n_desirable
    ratio = answer * n_desirable / (undesirable_weight * n_undesirable)
    if 1 - 1e-9 <= ratio <= 4 / 3 + 1e-9:
        return Feedback(True, f"{answer:g}: desirable examples now weigh {ratio:.2f}× the undesirable ones in total "
                              f"(the paper's range is 1 to 4/3: between {low:.2f} and {4 / 3 * low:.2f}).")
    if ratio < 1:
        return Feedback(False, f"{answer:g} is too small: {n_desirable} desirable examples would weigh only "
                               f"{ratio:.2f}× the {n_undesirable} undesirable ones; scale by how outnumbered they are")
    return Feedback(False, f"{answer:g} is too large ({ratio:.2f}×): the paper keeps the ratio at most 4/3, "
                           f"i.e. desirable_weight at most {4 / 3 * low:.2f}")


# Q8_0: blocks of 32 int8 weights + one fp16 scale = 34 bytes; Q4_K_M: a mix of 4- and 6-bit k-quant blocks with
# their scales, ~4.9 bits per weight on Llama-3.1-8B (llama.cpp's quantize report).
GGUF_BITS_PER_WEIGHT = {"F16": 16.0, "Q8_0": 8.5, "Q4_K_M": 4.9}


def check_gguf_size(answer_gb, parameters: int, kind: str = "Q8_0") -> Feedback:
    """Check an estimate, in GB (10⁹ bytes), of a GGUF file's size: parameters × bits per weight / 8, within 3%."""
    if kind not in GGUF_BITS_PER_WEIGHT:
        return Feedback(False, f"the checker knows the formats {', '.join(GGUF_BITS_PER_WEIGHT)}, not {kind!r}")
    answer = _number(answer_gb)
    if answer is None:
        return Feedback(False, f"give a number of GB, not {answer_gb!r}")
    bits = GGUF_BITS_PER_WEIGHT[kind]
    expected = parameters * bits / 8 / 1e9
    if abs(answer - expected) <= 0.03 * expected:
        return Feedback(True, f"about {expected:.1f} GB: {bits:g} bits per weight for {kind}, scales included")
    mistakes = {expected * 1e9 / 2**30: "that is GiB (2³⁰ bytes); the exercise asks for GB (10⁹ bytes)",
                parameters * bits / 1e9: "that is bits, not bytes: divide by 8"}
    if kind == "Q8_0":
        mistakes[parameters / 1e9] = ("close, but Q8_0 is not exactly 8 bits: every block of 32 weights also stores "
                                      "a 16-bit scale (34 bytes per 32 weights)")
    nearest = min(mistakes, key=lambda value: abs(answer - value))
    if abs(answer - nearest) <= 0.03 * nearest:
        return Feedback(False, mistakes[nearest])
    return Feedback(False, f"{answer:g} GB is off: multiply the parameters by {kind}'s bits per weight, divide "
                           "by 8 for bytes and by 10⁹ for GB")


def check_accumulation_for(accumulation_for) -> Feedback:
    """Check ``accumulation_for(target, per_device, processes)``: the gradient accumulation that keeps an effective
    batch of ``target`` (per-device batch × processes × accumulation), and a ``ValueError`` when none does."""
    cases = [(16, 4, 1, 4), (16, 4, 2, 2), (16, 8, 2, 1), (64, 4, 8, 2), (16, 16, 1, 1)]
    for target, per_device, processes, expected in cases:
        try:
            answer = accumulation_for(target, per_device, processes)
        except Exception as error:  # noqa: BLE001 — the student's code may raise anything
            return Feedback(False, f"accumulation_for({target}, {per_device}, {processes}) raised {error!r}; "
                                   f"expected {expected}")
        if not isinstance(answer, int) or isinstance(answer, bool):
            return Feedback(False, f"accumulation_for({target}, {per_device}, {processes}) returned {answer!r}: "
                                   "gradient_accumulation_steps is a whole number (use // after checking the rest)")
        if answer != expected:
            hint = (" — you left out the processes: each of them contributes its own per-device batch per step"
                    if answer == target // per_device else "")
            return Feedback(False, f"accumulation_for({target}, {per_device}, {processes}) returned {answer}, "
                                   f"expected {expected}: {per_device} × {processes} × {expected} = {target}{hint}")
    try:
        accumulation_for(16, 4, 3)
    except ValueError:
        return Feedback(True, "right: accumulation = target ÷ (per-device batch × processes), and a target that "
                              "does not divide is refused instead of silently changing the batch.")
    except Exception as error:  # noqa: BLE001
        return Feedback(False, f"accumulation_for(16, 4, 3) raised {error!r}; raise ValueError (12 does not divide 16)")
    return Feedback(False, "accumulation_for(16, 4, 3) returned a value, but 4 × 3 = 12 does not divide 16: no whole "
                           "accumulation keeps the batch; raise ValueError")


def check_two_machine_config(config: dict, gpus_per_machine: int = 4) -> Feedback:
    """Check an accelerate config (as a dict) for two machines with ``gpus_per_machine`` GPUs each, machine 0's
    copy: it must load with accelerate's own loader and pass ``ftlab.distributed.check_accelerate_config``."""
    import tempfile
    from pathlib import Path

    import yaml

    from ftlab import distributed

    if not isinstance(config, dict):
        return Feedback(False, f"give the config as a dict (the YAML's keys and values), not {type(config).__name__}")
    if config.get("num_processes") == gpus_per_machine:
        return Feedback(False, f"num_processes: {gpus_per_machine} is one machine's GPUs; accelerate counts all "
                               f"processes over all machines: {2 * gpus_per_machine}")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "two_machines.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        try:
            distributed.check_accelerate_config(path)
        except Exception as error:  # noqa: BLE001 — accelerate's loader raises TypeError for unknown keys
            return Feedback(False, f"accelerate or the course's check refuses it: {error}")
    wanted = {"num_machines": 2, "num_processes": 2 * gpus_per_machine, "machine_rank": 0, "rdzv_backend": "static"}
    wrong = {key: config.get(key) for key, value in wanted.items() if config.get(key) != value}
    if wrong:
        return Feedback(False, f"these keys are not right yet: {wrong}; expected {wanted}")
    return Feedback(True, f"machine 0's config: {2 * gpus_per_machine} processes over 2 machines; machine 1 runs the "
                          "same file with --machine_rank 1, and both reach machine 0 at main_process_ip.")
