"""Lab 03's own pieces — its exercise checkers and its outcome thresholds per profile (``THRESHOLDS``).

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

import copy

from ftlab.checks import Feedback, call_safely, code_checker
from ftlab.outcomes import Expectation


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


@code_checker
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


LABEL_CASES = [([5, 17, 3, 9], [42, 8, 2]), ([1, 2], [7]), ([11, 12, 13, 14, 15, 16], [21, 22, 23, 24, 2])]


def _short(ids: list[int], shown: int = 12) -> str:
    return str(ids) if len(ids) <= shown else str(ids[:shown])[:-1] + ", …]"


def _split_example(example: dict) -> tuple[list[int], list[int]]:
    """A prepared SFT example (``input_ids``, ``labels``) split back into prompt and completion ids."""
    first = next(i for i, label in enumerate(example["labels"]) if label != -100)
    return list(example["input_ids"][:first]), list(example["input_ids"][first:])


@code_checker
def check_completion_labels(completion_labels, example: dict | None = None) -> Feedback:
    """Lab 03: ``completion_labels(prompt_ids, completion_ids)`` must return what TRL's ``SFTTrainer`` builds with
    ``completion_only_loss``: one label per token of prompt + completion, ``-100`` on the prompt, the token itself on
    the completion. ``example``, a row of the trainer's own prepared dataset, adds a real case with TRL's labels."""
    cases = [(prompt, completion, [-100] * len(prompt) + completion) for prompt, completion in LABEL_CASES]
    if example is not None:
        cases.append((*_split_example(example), [int(label) for label in example["labels"]]))
    for prompt, completion, expected in cases:
        result, stop = call_safely(completion_labels, "completion_labels", prompt, completion)
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


_BOTH = {  # the same bound on the toy and on SmolLM2
    "accuracy_gain": Expectation(
        "held-out chat-accuracy gain from SFT (points as a share)",
        at_least=0.05, margin=0.02),
    "overfitting_signals": Expectation("overfitting signals in the full SFT run", at_most=0),
}
THRESHOLDS = {  # per profile; the GPU profiles report only
    "toy": {
        **_BOTH,
        "accuracy_before": Expectation("held-out chat accuracy of the base model", at_most=0.35, margin=0.02),
        "tiny_eval_ratio": Expectation(
            "final eval loss of the 32-example run over the full run's",
            at_least=5, margin=1),
    },
    "cpu": {
        **_BOTH,
        "accuracy_before": Expectation("held-out chat accuracy of the real model before SFT", at_most=0.1, margin=0.02),
        "tiny_eval_ratio": Expectation(
            "final eval loss of the 32-example run over the full run's",
            at_least=1.05, margin=0.05),
    },
}
