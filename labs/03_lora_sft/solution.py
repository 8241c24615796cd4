"""Lab 03's exercises, solved (tests/test_exercises.py runs each through the lab's checker)."""


def is_overfitting(log_history: list[dict]) -> bool:
    """Exercise 1: the eval loss rose from its best while training went on, or ends far above the train loss."""
    train = [entry["loss"] for entry in log_history if "loss" in entry]
    evals = [entry["eval_loss"] for entry in log_history if "eval_loss" in entry]
    rising = evals[-1] > min(evals) + 0.02
    gap = evals[-1] - train[-1] > 0.5
    return rising or gap


def completion_labels(prompt_ids: list[int], completion_ids: list[int]) -> list[int]:
    """Exercise 2: -100 (ignored by cross-entropy) on every prompt token, the completion's own ids after them."""
    return [-100] * len(prompt_ids) + list(completion_ids)
