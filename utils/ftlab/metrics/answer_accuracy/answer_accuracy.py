"""Answer accuracy: the share of replies whose first sentence states the gold answer about the right subject.

A reply counts as correct when its first sentence contains the gold answer (case-insensitive) and, if a
subject is given, also names that subject: "The zarp is blue." answers "What color is the zarp?" with
"blue", but "Blue." or "The mork is blue." do not. Shipped with the course so it loads offline.
"""

import re

import evaluate

import datasets

_KWARGS = """
Args:
    predictions: list of generated replies.
    references: list of gold answers (short strings, e.g. "blue" or "I don't know").
    subjects: optional list of the entity each question is about; when given, it must be named too.
Returns:
    accuracy: fraction of correct replies (0.0 to 1.0).
"""


def first_sentence(text: str) -> str:
    """The reply up to its first sentence end, lower-cased and with curly quotes straightened."""
    text = text.strip().replace("\u2019", "'").lower()
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]


def is_correct(prediction: str, reference: str, subject: str | None = None) -> bool:
    """Whether one reply states ``reference`` (about ``subject``) in its first sentence."""
    sentence = first_sentence(prediction)
    if reference.lower() not in sentence:
        return False
    return subject is None or re.search(rf"\b{re.escape(subject.lower())}\b", sentence) is not None


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS)
class AnswerAccuracy(evaluate.Metric):
    """The course's answer-accuracy metric."""

    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, subjects=None):
        subjects = subjects if subjects is not None else [None] * len(predictions)
        if len(subjects) != len(predictions):
            raise ValueError(f"got {len(subjects)} subjects for {len(predictions)} predictions")
        correct = [is_correct(p, r, s) for p, r, s in zip(predictions, references, subjects, strict=True)]
        return {"accuracy": sum(correct) / len(correct) if correct else 0.0}
