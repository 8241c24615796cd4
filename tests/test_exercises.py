"""Labs 02-10: every exercise's solution (labs/solutions/) passes its checker; each code checker rejects the typical
wrong answers with the hint meant for them, and answers any input with feedback, never a traceback."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from ftlab import checks, code_checks, estimate, losses, profiles, sft

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted(path.stem for path in (ROOT / "labs").glob("[0-9][0-9]_*.ipynb"))


def solution(lab: str):
    path = ROOT / "labs" / "solutions" / f"{lab}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{lab}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exercise_headings(lab: str) -> list[str]:
    cells = json.loads((ROOT / "labs" / f"{lab}.ipynb").read_text())["cells"]
    return [line for c in cells if c["cell_type"] == "markdown" for line in "".join(c["source"]).splitlines()
            if re.match(r"#+ Exercise \d", line)]


@pytest.mark.parametrize("lab", [lab for lab in LABS if "02" <= lab[:2] <= "10"])
def test_every_lab_has_two_exercises_one_in_code_each_with_a_level_and_a_solution(lab):
    headings = exercise_headings(lab)
    assert len(headings) >= 2, f"{lab}: {headings}"
    assert all(re.search(r"\((easy|medium|hard)(, code)?\)", heading) for heading in headings), headings
    assert any(", code)" in heading for heading in headings), f"{lab}: no exercise asks for code: {headings}"
    text = (ROOT / "labs" / f"{lab}.ipynb").read_text()
    assert (ROOT / "labs" / "solutions" / f"{lab}.py").is_file() and f"(solutions/{lab}.py)" in text


# --- the solutions pass ---------------------------------------------------------------------------------------

LLAMA_8B = estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]


def test_lab02_solutions():
    solved = solution("02_lora_from_scratch")
    assert checks.check_lora_parameters(solved.lora_parameter_count(LLAMA_8B, 8, ["q_proj", "v_proj"]), LLAMA_8B,
                                        r=8, targets=["q_proj", "v_proj"])
    assert code_checks.check_lora_forward(solved.lora_forward)


@pytest.fixture(scope="module")
def sft_example():
    """A row of TRL's own prepared SFT dataset (the toy's first training conversation)."""
    return sft.sft_trainer(profiles.get("toy")).train_dataset[0]


def test_lab03_solutions(sft_example):
    solved = solution("03_lora_sft")
    assert checks.check_overfitting_detector(solved.is_overfitting)
    feedback = code_checks.check_completion_labels(solved.completion_labels, example=sft_example)
    assert feedback and "the trainer's own example" in feedback.message


def test_lab04_solutions():
    solved = solution("04_qlora")
    qwen = estimate.SHAPES["Qwen/Qwen2.5-72B-Instruct"].parameters
    assert checks.check_weight_memory(solved.weights_gb(qwen, 4), qwen, bits=4)
    assert code_checks.check_largest_batch(solved.largest_batch)


def test_lab05_solutions():
    solved = solution("05_neftune")
    assert checks.check_neftune_scale(solved.largest_change(5, 512, 4096), alpha=5, seq_len=512, dim=4096)
    assert code_checks.check_neftune_noise(solved.add_neftune_noise)


def test_lab06_solutions():
    solved = solution("06_dpo")
    margins = [3.0, 1.5, -0.5, 2.0]
    assert checks.check_dpo_beta(solved.predict_beta_effect(margins, 0.1, 0.5), margins, beta=0.1, new_beta=0.5)
    assert code_checks.check_dpo_loss(solved.dpo_loss)


def test_lab07_solutions():
    solved = solution("07_simpo")
    chosen, rejected = [-0.8, -1.2, -0.4], [-1.1, -0.9, -1.6]
    assert checks.check_simpo_gamma(solved.simpo_batch_loss(chosen, rejected, 2.0, 1.0), chosen, rejected,
                                    beta=2.0, gamma=1.0)
    assert code_checks.check_simpo_loss(solved.simpo_loss)


def test_lab08_solutions():
    solved = solution("08_orpo")
    assert checks.check_orpo_lambda(solved.orpo_loss_with(1.9, -0.62, 1.0), nll=1.9, log_odds_ratio=-0.62, lam=1.0)
    assert code_checks.check_log_odds_ratio(solved.log_odds_ratio)


def test_lab09_solutions():
    solved = solution("09_kto_and_comparison")
    assert checks.check_kto_weights(solved.desirable_weight(1000, 3000), n_desirable=1000, n_undesirable=3000)
    assert code_checks.check_kto_reference_point(solved.reference_point)


def test_lab10_solutions():
    solved = solution("10_merge_and_export")
    assert checks.check_gguf_size(solved.gguf_gb(LLAMA_8B.parameters, 8.5), LLAMA_8B.parameters, "Q8_0")
    assert code_checks.check_merged_weight(solved.merged_weight)


# --- the typical wrong answers get their own hint -------------------------------------------------------------

def rejected(feedback, hint: str) -> bool:
    return not feedback and hint in feedback.message


WRONG = [
    (code_checks.check_lora_forward, lambda x, w, a, b, alpha, r: x @ w.T + x @ a.T @ b.T, "scaled by alpha / r"),
    (code_checks.check_lora_forward, lambda x, w, a, b, alpha, r: x @ w.T + alpha * (x @ a.T @ b.T),
     "not alpha"),
    (code_checks.check_lora_forward, lambda x, w, a, b, alpha, r: x @ w.T + (alpha / r) * (x @ b @ a),
     "raised RuntimeError"),
    (code_checks.check_completion_labels, lambda p, c: p + c, "nothing is masked"),
    (code_checks.check_completion_labels, lambda p, c: [0] * len(p) + c, "0 is a real token id"),
    (code_checks.check_completion_labels, lambda p, c: [-100] * (len(p) + 1) + c[1:], "first completion token"),
    (code_checks.check_completion_labels, lambda p, c: [-100] * len(p), "one label per input token"),
    (code_checks.check_largest_batch, lambda s, b, w, L: solution("04_qlora").largest_batch(s, b, w, L) + 1,
     "first batch that does *not* fit"),
    (code_checks.check_largest_batch, lambda s, b, w, L: next(
        n for n in range(10_000) if estimate.estimate_training(s, weight_bits=w, batch_size=n + 1, seq_len=L,
                                                               gradient_checkpointing=True).total > b * 1e9),
     "multiply by 2**30"),
    (code_checks.check_neftune_noise, lambda e, a: e + torch.randn_like(e) * a / (e.shape[1] * e.shape[2]) ** 0.5,
     "not normal noise"),
    (code_checks.check_neftune_noise, lambda e, a: e + torch.rand_like(e) * a / (e.shape[1] * e.shape[2]) ** 0.5,
     "not centred"),
    (code_checks.check_neftune_noise, lambda e, a: e + (2 * torch.rand_like(e) - 1) * a / e.shape[1] ** 0.5,
     "not L alone"),
    (code_checks.check_dpo_loss, lambda pc, pr, rc, rr, b: -F.logsigmoid(b * ((pr - rr) - (pc - rc))).mean(),
     "the sign"),
    (code_checks.check_dpo_loss, lambda pc, pr, rc, rr, b: -F.logsigmoid(b * (pc - pr)).mean(),
     "the reference is missing"),
    (code_checks.check_dpo_loss, lambda pc, pr, rc, rr, b: -torch.log(torch.sigmoid(b * ((pc - rc) - (pr - rr)))
                                                                      ).mean(), "not finite"),
    (code_checks.check_dpo_loss, lambda pc, pr, rc, rr, b: -F.logsigmoid(b * ((pc - rc) - (pr - rr))),
     "average over the pairs"),
    (code_checks.check_simpo_loss, lambda cw, lw, cl, ll, b, g: losses.simpo_loss(cw, cl, b, g),
     "divide each summed log-probability"),
    (code_checks.check_simpo_loss, lambda cw, lw, cl, ll, b, g: -F.logsigmoid(b * (cw / lw - cl / ll - g)).mean(),
     "not β·(Δ − γ)"),
    (code_checks.check_log_odds_ratio, lambda c, r: c - r, "ORPO uses odds"),
    (code_checks.check_log_odds_ratio, lambda c, r: (c - torch.log(1 - c.exp())) - (r - torch.log(1 - r.exp())),
     "not finite"),
    (code_checks.check_kto_reference_point, lambda p, r: (p - r).mean().detach(), "clamp at 0"),
    (code_checks.check_kto_reference_point, lambda p, r: (p - r).mean().clamp(min=0), "detach the result"),
    (code_checks.check_merged_weight, lambda w, a, b, alpha, r: w + b @ a, "scale the update"),
    (code_checks.check_merged_weight, lambda w, a, b, alpha, r: (alpha / r) * (b @ a), "keeps W"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert rejected(feedback, hint), feedback.message


CODE_CHECKERS = [code_checks.check_lora_forward, code_checks.check_completion_labels, code_checks.check_largest_batch,
                 code_checks.check_neftune_noise, code_checks.check_dpo_loss, code_checks.check_simpo_loss,
                 code_checks.check_log_odds_ratio, code_checks.check_kto_reference_point,
                 code_checks.check_merged_weight]


@pytest.mark.parametrize("checker", CODE_CHECKERS, ids=lambda checker: checker.__name__)
@pytest.mark.parametrize("answer", [None, 3, "def f(): ...", lambda *args: None, lambda *args: "text",
                                    lambda *args: 1 / 0], ids=["None", "number", "string", "no-return", "text",
                                                               "raises"])
def test_any_answer_gets_feedback_not_a_traceback(checker, answer):
    feedback = checker(answer)
    assert isinstance(feedback, checks.Feedback) and not feedback and feedback.message


def test_a_checker_hands_over_copies():
    """A function that changes its inputs in place cannot spoil the checker's cases for a later, right answer."""
    def in_place(x, w, a, b, alpha, r):
        w.mul_(0)
        return x @ a.T
    assert not code_checks.check_lora_forward(in_place)
    assert code_checks.check_lora_forward(solution("02_lora_from_scratch").lora_forward)
