"""Lab 03's own tests: its checkers accept the solutions and name the typical mistakes."""

import matplotlib
import pytest

from ftlab import labs, profiles, sft

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


def test_overfitting_checker_accepts_the_course_detector_and_catches_shortcuts():
    assert lab.check_overfitting_detector(lambda history: bool(sft.overfitting_signals(history)))
    last_train_low = lab.check_overfitting_detector(lambda h: [x["loss"] for x in h if "loss" in x][-1] < 0.2)
    assert not last_train_low and "low train loss alone is no signal" in last_train_low.message

    def gap_only(history):
        train = [x["loss"] for x in history if "loss" in x]
        evals = [x["eval_loss"] for x in history if "eval_loss" in x]
        return evals[-1] - train[-1] > 0.5

    assert "not only the gap" in lab.check_overfitting_detector(gap_only).message

    def forgot_return(history):
        bool(sft.overfitting_signals(history))

    assert "forget `return`" in lab.check_overfitting_detector(forgot_return).message

    def sorts_in_place(history):  # a wrong try that mutates its input must not spoil the next, right one
        history.sort(key=lambda x: -x["step"])
        return False

    assert not lab.check_overfitting_detector(sorts_in_place)
    assert lab.check_overfitting_detector(lambda history: bool(sft.overfitting_signals(history)))

@pytest.fixture(scope="module")
def sft_example():
    """A row of TRL's own prepared SFT dataset (the toy's first training conversation)."""
    return sft.sft_trainer(profiles.get("toy")).train_dataset[0]

def test_lab03_solutions(sft_example):
    solved = solution
    assert lab.check_overfitting_detector(solved.is_overfitting)
    feedback = lab.check_completion_labels(solved.completion_labels, example=sft_example)
    assert feedback and "the trainer's own example" in feedback.message


WRONG = [
    (lab.check_completion_labels, lambda p, c: p + c, "nothing is masked"),
    (lab.check_completion_labels, lambda p, c: [0] * len(p) + c, "0 is a real token id"),
    (lab.check_completion_labels, lambda p, c: [-100] * (len(p) + 1) + c[1:], "first completion token"),
    (lab.check_completion_labels, lambda p, c: [-100] * len(p), "one label per input token"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback and hint in feedback.message, feedback.message
