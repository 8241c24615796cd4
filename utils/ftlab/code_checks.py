"""Checkers for the code exercises of Labs 02-10: each runs the student's function on fresh copies of its cases,
compares the result with the library (PEFT, TRL, transformers, or the course's own functions that the tests check
against them) and names the likely mistake. Any input gives feedback, never a traceback."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from ftlab import estimate, losses
from ftlab.checks import Feedback


def _call(function, name: str, *args) -> tuple[object, Feedback | None]:
    """``function(*args)`` on copies of the arguments; the result, or the feedback that ends the check."""
    if not callable(function):
        return None, Feedback(False, f"pass your function itself (`{name}`), not {type(function).__name__}")
    try:
        result = function(*(arg.clone() if isinstance(arg, torch.Tensor) else copy.deepcopy(arg) for arg in args))
    except Exception as error:  # noqa: BLE001 (any error in the student's code becomes feedback)
        return None, Feedback(False, f"your function raised {type(error).__name__}: {error}")
    if result is None:
        return None, Feedback(False, "your function returned None: did you forget `return`?")
    return result, None


def _tensor(result) -> torch.Tensor | None:
    """A result (tensor, number, list) as a float64 tensor, or None if it is not numbers."""
    try:
        value = result.detach() if isinstance(result, torch.Tensor) else torch.as_tensor(result)
        return value.to(torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def _close(answer: torch.Tensor, expected: torch.Tensor, tolerance: float = 1e-4) -> bool:
    return answer.shape == expected.shape and torch.allclose(answer, expected.to(torch.float64), rtol=tolerance,
                                                             atol=tolerance)


def _first_mistake(answer: torch.Tensor, mistakes: list[tuple[torch.Tensor, str]]) -> str | None:
    """The hint of the first typical mistake whose result ``answer`` reproduces."""
    for wrong, hint in mistakes:
        if _close(answer, wrong.to(torch.float64)):
            return hint
    return None


def _scalar_check(function, name: str, cases: list[tuple], reference: Callable,
                  mistakes: Callable[..., list[tuple[torch.Tensor, str]]], generic_hint: str, success: str) -> Feedback:
    """Run ``function`` on each case against ``reference(*case)``: feedback for the first case it gets wrong (the
    hint of the typical mistake it reproduces, else ``generic_hint``), or ``success``."""
    for number, case in enumerate(cases, start=1):
        result, stop = _call(function, name, *case)
        if stop is not None:
            return stop
        answer, expected = _tensor(result), reference(*case).detach().to(torch.float64)
        if answer is None:
            return Feedback(False, f"return a tensor or a number, not {type(result).__name__}")
        if answer.numel() == 1 and expected.numel() == 1:
            answer, expected = answer.reshape(()), expected.reshape(())
        if not torch.isfinite(answer).all():
            return Feedback(False, f"case {number}: your result is not finite ({answer.flatten()[:3].tolist()}): "
                                   "use the log-space functions (F.logsigmoid, torch.log1p, torch.expm1)")
        if _close(answer, expected):
            continue
        hint = _first_mistake(answer, mistakes(*case))
        got = answer.flatten()[:3].tolist()
        return Feedback(False, f"case {number}: got {got}, expected {expected.flatten()[:3].tolist()}. "
                               f"Hint: {hint or generic_hint}")
    return Feedback(True, success)


# ---------------------------------------------------------------------------------------------------------------
# Lab 02: the LoRA forward pass
# ---------------------------------------------------------------------------------------------------------------

def _lora_cases() -> list[tuple]:
    generator = torch.Generator().manual_seed(0)
    cases = []
    for batch, d_in, d_out, r, alpha in [(3, 6, 4, 2, 4.0), (2, 8, 8, 4, 4.0), (5, 5, 7, 1, 16.0)]:
        cases.append((torch.randn(batch, d_in, generator=generator), torch.randn(d_out, d_in, generator=generator),
                      torch.randn(r, d_in, generator=generator), torch.randn(d_out, r, generator=generator), alpha, r))
    return cases


def _lora_reference(x, weight, a, b, alpha, r) -> torch.Tensor:
    from ftlab.lora import LoRALinear

    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
        lora = LoRALinear(layer, r=r, alpha=alpha)
        lora.lora_A.copy_(a)
        lora.lora_B.copy_(b)
        return lora(x)


def check_lora_forward(lora_forward) -> Feedback:
    """Lab 02: ``lora_forward(x, weight, A, B, alpha, r)`` must equal :class:`ftlab.lora.LoRALinear` (itself
    checked against PEFT's layer): ``x·Wᵀ + (alpha/r)·x·Aᵀ·Bᵀ``."""

    def mistakes(x, weight, a, b, alpha, r):
        base, update = x @ weight.T, x @ a.T @ b.T
        return [(base, "the adapter's path is missing: add (alpha/r)·x·Aᵀ·Bᵀ to the frozen x·Wᵀ"),
                (base + update, "the update is scaled by alpha / r"),
                (base + alpha * update, "the scale is alpha / r, not alpha"),
                (base + r / alpha * update, "the scale is alpha / r, not r / alpha"),
                ((alpha / r) * update, "the frozen path x·Wᵀ is missing: LoRA adds to it")]

    return _scalar_check(lora_forward, "lora_forward", _lora_cases(), _lora_reference, mistakes,
                         "A is r × in and B is out × r, so the update is x·Aᵀ·Bᵀ, scaled by alpha / r",
                         "equal to the course's LoRALinear (and so to PEFT) on all 3 cases: "
                         "y = x·Wᵀ + (alpha/r)·x·Aᵀ·Bᵀ, without ever forming B·A.")


# ---------------------------------------------------------------------------------------------------------------
# Lab 03: which tokens carry the loss
# ---------------------------------------------------------------------------------------------------------------

LABEL_CASES = [([5, 17, 3, 9], [42, 8, 2]), ([1, 2], [7]), ([11, 12, 13, 14, 15, 16], [21, 22, 23, 24, 2])]


def _short(ids: list[int], shown: int = 12) -> str:
    return str(ids) if len(ids) <= shown else str(ids[:shown])[:-1] + ", …]"


def _split_example(example: dict) -> tuple[list[int], list[int]]:
    """A prepared SFT example (``input_ids``, ``labels``) split back into prompt and completion ids."""
    first = next(i for i, label in enumerate(example["labels"]) if label != -100)
    return list(example["input_ids"][:first]), list(example["input_ids"][first:])


def check_completion_labels(completion_labels, example: dict | None = None) -> Feedback:
    """Lab 03: ``completion_labels(prompt_ids, completion_ids)`` must return what TRL's ``SFTTrainer`` builds with
    ``completion_only_loss``: one label per token of prompt + completion, ``-100`` on the prompt, the token itself on
    the completion. ``example``, a row of the trainer's own prepared dataset, adds a real case with TRL's labels."""
    cases = [(prompt, completion, [-100] * len(prompt) + completion) for prompt, completion in LABEL_CASES]
    if example is not None:
        cases.append((*_split_example(example), [int(label) for label in example["labels"]]))
    for prompt, completion, expected in cases:
        result, stop = _call(completion_labels, "completion_labels", prompt, completion)
        if stop is not None:
            return stop
        try:
            labels = [int(label) for label in (result.tolist() if hasattr(result, "tolist") else result)]
        except (TypeError, ValueError):
            return Feedback(False, f"return a list of token ids and -100s, not {type(result).__name__}")
        if labels == expected:
            continue
        n = len(prompt)
        if len(labels) != len(expected):
            hint = f"one label per input token: {len(expected)} here (prompt + completion), you gave {len(labels)}"
        elif labels == prompt + completion:
            hint = "nothing is masked: the prompt's labels must be -100, so that the loss skips them"
        elif labels == [0] * n + completion:
            hint = "mask with -100, the index cross-entropy ignores; 0 is a real token id"
        elif labels == prompt + [-100] * len(completion):
            hint = "the other way round: mask the prompt, train the completion"
        elif labels[:n] == [-100] * n and labels[n] == -100:
            hint = "the first completion token is masked: it is trained too"
        elif labels[n - 1] != -100:
            hint = "the prompt's last token is left unmasked: every prompt token gets -100"
        else:
            hint = "-100 on every prompt token, the completion's own ids after them"
        shown = f"prompt {prompt} and completion {completion}" if len(prompt) < 10 else "the trainer's own example"
        return Feedback(False, f"for {shown}: got {_short(labels)}, TRL builds {_short(expected)}. Hint: {hint}")
    real = " and the trainer's own example" if example is not None else ""
    return Feedback(True, f"the labels TRL's SFTTrainer builds, on {len(LABEL_CASES)} cases{real}: the loss reads "
                          "only the answer, and its last token (EOS) teaches the model to stop.")


# ---------------------------------------------------------------------------------------------------------------
# Lab 04: a batch that fits a memory budget
# ---------------------------------------------------------------------------------------------------------------

BATCH_CASES = [("meta-llama/Llama-3.1-8B-Instruct", 24.0, 4, 1024), ("meta-llama/Llama-3.1-8B-Instruct", 24.0, 16, 512),
               ("meta-llama/Llama-3.2-3B-Instruct", 24.0, 16, 512), ("meta-llama/Llama-3.1-70B-Instruct", 119.2, 4,
                                                                      1024)]


def _largest_batch(shape, budget_gib: float, weight_bits: int, seq_len: int, checkpointing: bool = True,
                   unit: float = estimate.GIB) -> int:
    batch = 0
    while batch < 4096 and estimate.estimate_training(shape, weight_bits=weight_bits, batch_size=batch + 1,
                                                      seq_len=seq_len, gradient_checkpointing=checkpointing
                                                      ).total <= budget_gib * unit:
        batch += 1
    return batch


def check_largest_batch(largest_batch) -> Feedback:
    """Lab 04: ``largest_batch(shape, budget_gib, weight_bits, seq_len)`` must return the largest batch size whose
    :func:`ftlab.estimate.estimate_training` (LoRA r 16, gradient checkpointing) fits ``budget_gib``; 0 if none."""
    for model_id, budget, bits, seq_len in BATCH_CASES:
        shape = estimate.SHAPES[model_id]
        result, stop = _call(largest_batch, "largest_batch", shape, budget, bits, seq_len)
        if stop is not None:
            return stop
        answer = _tensor(result)
        if answer is None or answer.numel() != 1 or answer.item() != int(answer.item()):
            return Feedback(False, f"return a whole batch size, not {result!r}")
        answer, expected = int(answer.item()), _largest_batch(shape, budget, bits, seq_len)
        if answer == expected:
            continue
        case = f"{model_id.split('/')[-1]}, {bits}-bit weights, {seq_len} tokens, {budget:g} GiB"
        if answer == expected + 1:
            hint = "that is the first batch that does *not* fit: return the one before it"
        elif answer == _largest_batch(shape, budget, bits, seq_len, unit=1e9):
            hint = "the budget is in GiB (2³⁰ bytes) and `.total` is in bytes: multiply by 2**30, not 1e9"
        elif answer == _largest_batch(shape, budget, bits, seq_len, checkpointing=False):
            hint = "estimate with gradient_checkpointing=True, as the course trains"
        elif expected == 0:
            hint = "not even batch 1 fits here: return 0"
        else:
            hint = "try batch sizes 1, 2, 3, … and keep the last whose estimate_training(...).total fits"
        return Feedback(False, f"{case}: got {answer}, the estimator allows {expected}. Hint: {hint}")
    return Feedback(True, f"right on all {len(BATCH_CASES)} budgets: the estimator says which runs fit before you "
                          "start one (8B in bf16 does not fit 24 GiB at any batch; in 4 bits it does).")


# ---------------------------------------------------------------------------------------------------------------
# Lab 05: NEFTune's noise
# ---------------------------------------------------------------------------------------------------------------

def check_neftune_noise(add_neftune_noise) -> Feedback:
    """Lab 05: ``add_neftune_noise(embeddings, alpha)`` on a (batch, L, d) tensor must add what transformers'
    NEFTune hook adds: uniform noise in ±alpha/sqrt(L·d), a fresh draw for every value."""
    generator = torch.Generator().manual_seed(0)
    for batch, seq_len, dim, alpha in [(4, 32, 64, 5.0), (2, 128, 16, 10.0)]:
        embeddings = torch.randn(batch, seq_len, dim, generator=generator)
        result, stop = _call(add_neftune_noise, "add_neftune_noise", embeddings, alpha)
        if stop is not None:
            return stop
        if not isinstance(result, torch.Tensor) or result.shape != embeddings.shape:
            return Feedback(False, f"return the noisy embeddings, a tensor of shape {tuple(embeddings.shape)}")
        noise, bound = (result - embeddings).to(torch.float64), alpha / (seq_len * dim) ** 0.5
        largest, spread = noise.abs().max().item(), noise.std().item()
        case = f"L={seq_len}, d={dim}, alpha={alpha:g} (bound {bound:.4f})"
        if largest == 0:
            return Feedback(False, f"{case}: nothing was added; add the noise to the embeddings")
        for wrong, hint in [(alpha / seq_len**0.5, "the square root covers L·d, not L alone"),
                            (alpha / dim**0.5, "the square root covers L·d, not d alone"),
                            (alpha / (seq_len * dim), "divide alpha by the square root of L·d, not by L·d")]:
            if 0.9 * wrong <= largest <= wrong * 1.001:
                return Feedback(False, f"{case}: your largest change is {largest:.4g}. Hint: {hint}")
        if largest > bound * 1.001:
            return Feedback(False, f"{case}: a change of {largest:.4g} is beyond the bound: NEFTune draws uniform "
                                   "noise (torch.rand or uniform_), not normal noise (torch.randn)")
        if abs(noise.mean().item()) > 0.2 * bound:
            return Feedback(False, f"{case}: the noise is not centred (mean {noise.mean().item():+.4g}): "
                                   "draw from [-bound, bound], e.g. (2·rand − 1)·bound, not rand·bound")
        if largest < 0.9 * bound or not 0.9 <= spread / (bound / 3**0.5) <= 1.1:
            return Feedback(False, f"{case}: the noise should fill [-bound, bound] evenly (largest {largest:.4g}, "
                                   f"std {spread:.4g}, uniform's std is bound/√3 = {bound / 3**0.5:.4g})")
    return Feedback(True, "uniform in ±alpha/sqrt(L·d), centred, a fresh draw per value: what transformers' "
                          "NEFTune hook adds to the embeddings in training mode.")


# ---------------------------------------------------------------------------------------------------------------
# Labs 06-09: the preference losses
# ---------------------------------------------------------------------------------------------------------------

def _preference_cases(n: int = 4) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [-torch.rand(n, generator=generator, dtype=torch.float64) * 40 - 1 for _ in range(4)]


def check_dpo_loss(dpo_loss) -> Feedback:
    """Lab 06: ``dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)`` from summed
    log-probabilities must equal :func:`ftlab.losses.dpo_loss` (checked against TRL's in the lab): the mean over
    pairs of −log σ(β·margin); a margin of ±1000 must not overflow."""
    extreme = [torch.tensor([-1.0, -2000.0], dtype=torch.float64), torch.tensor([-2000.0, -1.0], dtype=torch.float64),
               torch.tensor([-5.0, -5.0], dtype=torch.float64), torch.tensor([-5.0, -5.0], dtype=torch.float64)]
    cases = [(*_preference_cases(), 0.1), (*_preference_cases(), 0.5), (*extreme, 1.0)]

    def mistakes(pc, pr, rc, rr, beta):
        margin = (pc - rc) - (pr - rr)
        return [(-torch.nn.functional.logsigmoid(-beta * margin).mean(), "the sign: the loss falls as the chosen "
                 "answer gains on the rejected one, so it is −log σ(+β·margin)"),
                (-torch.nn.functional.logsigmoid(beta * (pc - pr)).mean(), "the reference is missing: the margin "
                 "is (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))"),
                (-torch.nn.functional.logsigmoid(margin).mean(), "β multiplies the margin inside the sigmoid"),
                (-torch.sigmoid(beta * margin).mean(), "take the log of the sigmoid: −log σ(β·margin)"),
                (-torch.nn.functional.logsigmoid(beta * margin), "average over the pairs: the loss is one number")]

    return _scalar_check(dpo_loss, "dpo_loss", cases, losses.dpo_loss, mistakes,
                         "mean over pairs of −log σ(β·((log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))))",
                         "equal to ftlab.losses.dpo_loss, and so to TRL's, on all 3 batches, the one with "
                         "a margin of ±2000 included.")


def check_simpo_loss(simpo_loss) -> Feedback:
    """Lab 07: ``simpo_loss(chosen_logps, chosen_lengths, rejected_logps, rejected_lengths, beta, gamma)`` from
    summed log-probabilities and answer lengths must equal :func:`ftlab.losses.simpo_loss` on the per-token
    averages: the mean of −log σ(β·(avg_w − avg_l) − γ)."""
    chosen, _, rejected, _ = _preference_cases()
    lengths_w, lengths_l = torch.tensor([4.0, 9.0, 2.0, 12.0]), torch.tensor([11.0, 3.0, 6.0, 5.0])
    cases = [(chosen, lengths_w, rejected, lengths_l, 2.0, 0.5), (chosen, lengths_w, rejected, lengths_l, 2.5, 1.4)]

    def reference(cw, lw, cl, ll, beta, gamma):
        return losses.simpo_loss(cw / lw, cl / ll, beta, gamma)

    def mistakes(cw, lw, cl, ll, beta, gamma):
        gap = cw / lw - cl / ll
        return [(losses.simpo_loss(cw, cl, beta, gamma), "divide each summed log-probability by its answer's "
                 "length: SimPO's reward is the average per token"),
                (-torch.nn.functional.logsigmoid(beta * gap + gamma).mean(), "γ is subtracted: the chosen answer "
                 "must win by the margin γ"),
                (-torch.nn.functional.logsigmoid(beta * (gap - gamma)).mean(), "γ is subtracted after β scales the "
                 "gap: β·Δ − γ, not β·(Δ − γ)"),
                (-torch.nn.functional.logsigmoid(beta * gap).mean(), "the target margin γ is missing")]

    return _scalar_check(simpo_loss, "simpo_loss", cases, reference, mistakes,
                         "mean of −log σ(β·(sum_w/len_w − sum_l/len_l) − γ)",
                         "equal to ftlab.losses.simpo_loss, and so to TRL's CPO trainer with "
                         "loss_type='simpo': no reference model, length-normalised rewards, margin γ.")


def check_log_odds_ratio(log_odds_ratio) -> Feedback:
    """Lab 08: ``log_odds_ratio(chosen_avg, rejected_avg)`` from per-token average log-probabilities must return,
    per pair, log odds(y_w) − log odds(y_l) with odds = p/(1 − p), p = exp(avg): ``ftlab.losses.log_odds``'s
    difference, also for an average log-probability a hair below 0, where exp rounds to 1."""
    generator = torch.Generator().manual_seed(2)
    moderate = (-torch.rand(5, generator=generator) * 3 - 0.05, -torch.rand(5, generator=generator) * 3 - 0.05)
    edge = (torch.tensor([-1e-9, -0.5]), torch.tensor([-2.0, -1e-9]))

    def reference(chosen, rejected):
        return losses.log_odds(chosen.double()) - losses.log_odds(rejected.double())

    def mistakes(chosen, rejected):
        return [(chosen - rejected, "that is the log of the probability ratio; ORPO uses odds, p / (1 − p)"),
                (reference(rejected, chosen), "the sign: chosen minus rejected"),
                (chosen.exp() / (1 - chosen.exp()) - rejected.exp() / (1 - rejected.exp()),
                 "take the log of each odds before subtracting")]

    return _scalar_check(log_odds_ratio, "log_odds_ratio", [moderate, edge], reference, mistakes,
                         "log odds = avg − log(1 − exp(avg)); compute 1 − exp(avg) as −torch.expm1(avg)",
                         "right, the edge case too: log(1 − e^x) as torch.log(-torch.expm1(x)) stays "
                         "finite where 1 − torch.exp(x) rounds to 0.")


def check_kto_reference_point(reference_point) -> Feedback:
    """Lab 09: ``reference_point(policy_kl_logps, reference_kl_logps)`` on mismatched pairs must equal
    :func:`ftlab.losses.kto_reference_point`: the batch's mean log-ratio, clamped at 0, carrying no gradient."""
    generator = torch.Generator().manual_seed(3)
    policy, reference = (-torch.rand(6, generator=generator) * 20 for _ in range(2))
    below = (reference - 1.0, reference)  # the policy below the reference everywhere: the estimate is negative
    cases = [(policy, reference), below, (reference + 0.5, reference)]

    def mistakes(p, r):
        return [((p - r).mean(), "clamp at 0: a KL divergence cannot be negative"),
                ((p - r).sum().clamp(min=0), "the mean over the batch, not the sum"),
                ((r - p).mean().clamp(min=0), "the sign: policy minus reference")]

    values = _scalar_check(reference_point, "reference_point", cases, losses.kto_reference_point, mistakes,
                           "mean over the batch of (policy − reference), clamped at 0", "")
    if not values:
        return values
    policy_grad = policy.clone().requires_grad_(True)
    result, stop = _call(reference_point, "reference_point", policy_grad, reference)
    if stop is not None:
        return stop
    if isinstance(result, torch.Tensor) and result.requires_grad:
        return Feedback(False, "detach the result: z₀ is a baseline, no gradient may flow through it")
    return Feedback(True, "equal to ftlab.losses.kto_reference_point (checked against TRL's KTO loss): z₀ is the "
                          "batch's KL estimate, never negative, held fixed in the gradient.")


# ---------------------------------------------------------------------------------------------------------------
# Lab 10: merging by hand
# ---------------------------------------------------------------------------------------------------------------

def _peft_merged(weight, a, b, alpha, r) -> torch.Tensor:
    """The weight PEFT's ``merge_and_unload`` writes for a LoRA adapter (A, B) on a linear layer ``weight``."""
    from peft import LoraConfig, get_peft_model

    holder = torch.nn.Sequential()
    holder.proj = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        holder.proj.weight.copy_(weight)
    model = get_peft_model(holder, LoraConfig(r=r, lora_alpha=alpha, target_modules=["proj"]))
    with torch.no_grad():
        model.base_model.model.proj.lora_A["default"].weight.copy_(a)
        model.base_model.model.proj.lora_B["default"].weight.copy_(b)
    return model.merge_and_unload().proj.weight.detach()


def check_merged_weight(merged_weight) -> Feedback:
    """Lab 10: ``merged_weight(weight, A, B, alpha, r)`` must return the weight PEFT's ``merge_and_unload``
    writes: W + (alpha/r)·B·A."""
    cases = [(weight, a, b, alpha, r) for _, weight, a, b, alpha, r in _lora_cases()]

    def mistakes(weight, a, b, alpha, r):
        update = b @ a
        return [(weight + update, "scale the update by alpha / r"),
                (weight + alpha * update, "the scale is alpha / r, not alpha"),
                ((alpha / r) * update, "the merged weight keeps W: W + (alpha/r)·B·A"),
                (weight, "nothing was merged: add (alpha/r)·B·A to W")]

    return _scalar_check(merged_weight, "merged_weight", cases, _peft_merged, mistakes,
                         "B (out × r) times A (r × in) is out × in, the shape of W: W + (alpha/r)·B·A",
                         "the weight PEFT's merge_and_unload writes, on all 3 layers: after merging, the "
                         "model needs no adapter code, which is what llama.cpp loads.")
