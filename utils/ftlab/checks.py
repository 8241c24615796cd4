"""The exercise-checker framework: a ``Feedback`` verdict, answers read as numbers, and the harness that runs a
student's function on fresh copies of its cases against the library. Each lab's own checkers live in its folder
(``labs/NN_topic/lab.py``); every checker says what is right, or exactly what is wrong and a hint — never just "no",
and any input gets feedback, never a traceback."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Feedback:
    """A checker's verdict; shows as Markdown in a notebook and is truthy when the answer is right."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def _repr_markdown_(self) -> str:
        return ("✅ " if self.ok else "❌ ") + self.message


def code_checker(checker: Callable) -> Callable:
    """Mark a checker that runs the student's function (a code exercise): the tests hand it broken functions, and
    it must answer each with feedback."""
    checker.runs_student_code = True
    return checker


def runs_student_code(function: object) -> bool:
    """True for a checker marked with ``@code_checker``."""
    return getattr(function, "runs_student_code", False) is True


def as_number(answer) -> float | None:
    """An answer as a float if it is a number (int, float, numpy scalar, 0-d tensor), else ``None``."""
    if isinstance(answer, bool) or answer is None or isinstance(answer, str):
        return None
    try:
        value = float(answer.item() if hasattr(answer, "item") else answer)
    except (TypeError, ValueError, RuntimeError):
        return None
    return value if math.isfinite(value) else None


def as_whole(answer) -> int | None:
    """A count given as any number with no fractional part (``951424``, ``951424.0``, ``np.int64(...)``)."""
    value = as_number(answer)
    return int(value) if value is not None and value == int(value) else None


def matches_digits(answer: float, expected: float, digits: int) -> bool:
    """``answer`` agrees with ``expected`` to ``digits`` significant figures, rounded or cut off (within one unit
    of the last digit asked for)."""
    if expected == 0:
        return abs(answer) < 10 ** -digits
    unit = 10 ** (math.floor(math.log10(abs(expected))) - (digits - 1))
    return abs(answer - expected) <= unit * (1 + 1e-9)


def softplus(x: float) -> float:
    """``log(1 + e^x)`` without overflow for large ``x``."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def first_difference(answer: str, expected: str) -> int:
    """The index of the first character where the two strings differ (the shorter one's length if one is a prefix)."""
    for i, (a, b) in enumerate(zip(answer, expected, strict=False)):
        if a != b:
            return i
    return min(len(answer), len(expected))


def call_safely(function, name: str, *args) -> tuple[object, Feedback | None]:
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


def as_tensor(result) -> torch.Tensor | None:
    """A result (tensor, number, list) as a float64 tensor, or None if it is not numbers."""
    try:
        value = result.detach() if isinstance(result, torch.Tensor) else torch.as_tensor(result)
        return value.to(torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def allclose(answer: torch.Tensor, expected: torch.Tensor, tolerance: float = 1e-4) -> bool:
    """Same shape and equal within ``tolerance`` (relative and absolute), compared in float64."""
    return answer.shape == expected.shape and torch.allclose(answer, expected.to(torch.float64), rtol=tolerance,
                                                             atol=tolerance)


def first_mistake(answer: torch.Tensor, mistakes: list[tuple[torch.Tensor, str]]) -> str | None:
    """The hint of the first typical mistake whose result ``answer`` reproduces."""
    for wrong, hint in mistakes:
        if allclose(answer, wrong.to(torch.float64)):
            return hint
    return None


def scalar_check(function, name: str, cases: list[tuple], reference: Callable,
                  mistakes: Callable[..., list[tuple[torch.Tensor, str]]], generic_hint: str, success: str) -> Feedback:
    """Run ``function`` on each case against ``reference(*case)``: feedback for the first case it gets wrong (the
    hint of the typical mistake it reproduces, else ``generic_hint``), or ``success``."""
    for number, case in enumerate(cases, start=1):
        result, stop = call_safely(function, name, *case)
        if stop is not None:
            return stop
        answer, expected = as_tensor(result), reference(*case).detach().to(torch.float64)
        if answer is None:
            return Feedback(False, f"return a tensor or a number, not {type(result).__name__}")
        if answer.numel() == 1 and expected.numel() == 1:
            answer, expected = answer.reshape(()), expected.reshape(())
        if not torch.isfinite(answer).all():
            return Feedback(False, f"case {number}: your result is not finite ({answer.flatten()[:3].tolist()}): "
                                   "use the log-space functions (F.logsigmoid, torch.log1p, torch.expm1)")
        if allclose(answer, expected):
            continue
        hint = first_mistake(answer, mistakes(*case))
        got = answer.flatten()[:3].tolist()
        return Feedback(False, f"case {number}: got {got}, expected {expected.flatten()[:3].tolist()}. "
                               f"Hint: {hint or generic_hint}")
    return Feedback(True, success)


def preference_cases(n: int = 4) -> list[torch.Tensor]:
    """Four fixed tensors of ``n`` summed per-answer log-probabilities each, between −41 and −1 (DPO reads them as
    policy chosen, policy rejected, reference chosen, reference rejected)."""
    generator = torch.Generator().manual_seed(1)
    return [-torch.rand(n, generator=generator, dtype=torch.float64) * 40 - 1 for _ in range(4)]


def lora_cases() -> list[tuple]:
    """Fixed LoRA cases ``(x, W, A, B, alpha, r)`` for the checkers of Lab 02's forward pass and Lab 10's merge."""
    generator = torch.Generator().manual_seed(0)
    cases = []
    for batch, d_in, d_out, r, alpha in [(3, 6, 4, 2, 4.0), (2, 8, 8, 4, 4.0), (5, 5, 7, 1, 16.0)]:
        cases.append((torch.randn(batch, d_in, generator=generator), torch.randn(d_out, d_in, generator=generator),
                      torch.randn(r, d_in, generator=generator), torch.randn(d_out, r, generator=generator), alpha, r))
    return cases
