"""ftlab.checks, the framework every lab's checkers use: answers read as numbers however they are given, agreement
to the figures asked for, and a student's function run on copies with any failure turned into feedback."""

import numpy as np
import torch

from ftlab import checks


def test_numbers_in_any_form_and_nothing_else():
    assert [checks.as_number(x) for x in (3, 2.5, np.float32(0.5), torch.tensor(1.5))] == [3.0, 2.5, 0.5, 1.5]
    assert [checks.as_number(x) for x in (True, None, "3", float("nan"), torch.ones(2))] == [None] * 5
    assert checks.as_whole(951424.0) == 951424 and checks.as_whole(2.5) is None


def test_significant_figures_rounded_or_cut_off():
    assert checks.matches_digits(0.0035, 0.003453, digits=2) and checks.matches_digits(0.0034, 0.003453, digits=2)
    assert not checks.matches_digits(0.0036, 0.003453, digits=2)


def test_a_students_function_runs_on_copies_and_its_failures_become_feedback():
    weight = torch.ones(2)
    result, stop = checks.call_safely(lambda w: w.mul_(0), "f", weight)
    assert stop is None and weight.tolist() == [1.0, 1.0]  # the checker's own case is untouched
    assert "did you forget `return`" in checks.call_safely(lambda: None, "f")[1].message
    assert "raised ZeroDivisionError" in checks.call_safely(lambda: 1 / 0, "f")[1].message
    assert "pass your function itself (`f`)" in checks.call_safely(3, "f")[1].message


def test_code_checkers_are_marked():
    @checks.code_checker
    def check_something(function):
        return checks.Feedback(True, "")

    assert checks.runs_student_code(check_something) and not checks.runs_student_code(print)
