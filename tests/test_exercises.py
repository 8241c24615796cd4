"""Every lab's exercises, found by folder (``ftlab.labs``): at least two, each with a level, at least one asking for
code, and a solution linked from every exercise; every checker that runs a student's function answers any input
with feedback, never a traceback. Each lab's own tests (its solutions pass, its typical mistakes get their hint)
sit in its folder, ``labs/NN_topic/test_NN_topic.py``."""

import re
from pathlib import Path

import pytest

from ftlab import checks, labs

ROOT = Path(__file__).resolve().parents[1]
WITH_EXERCISES = [lab for lab in labs.discover(ROOT / "labs") if lab.exercises()]
SETUP = "01"  # the setup check: its two exercises ask for a string and a number, not for code


@pytest.mark.parametrize("lab", WITH_EXERCISES, ids=lambda lab: lab.name)
def test_every_lab_has_two_exercises_one_in_code_each_with_a_level_and_a_solution(lab):
    headings = lab.exercises()
    assert len(headings) >= 2, f"{lab.name}: {headings}"
    assert all(re.search(r"\((easy|medium|hard)(, code)?\)", heading) for heading in headings), headings
    assert lab.solution_path.is_file(), f"{lab.name}: no solution.py"
    if lab.number == SETUP:
        return
    assert any(", code)" in heading for heading in headings), f"{lab.name}: no exercise asks for code: {headings}"
    assert any(checks.runs_student_code(f) for f in vars(lab.module()).values()), \
        f"{lab.name}: a code exercise needs a checker marked @checks.code_checker"


@pytest.mark.parametrize("lab", WITH_EXERCISES, ids=lambda lab: lab.name)
def test_every_exercise_links_to_the_solution(lab):
    text = "\n".join("".join(cell["source"]) for cell in lab.cells("markdown"))
    sections = re.split(r"^(?=#+ (?:Exercise \d|Recap))", text, flags=re.M)
    exercises = [section for section in sections if re.match(r"#+ Exercise \d", section)]
    unlinked = [section.splitlines()[0] for section in exercises if "](solution.py" not in section]
    assert not unlinked, f"{lab.name}: no link to solution.py under {unlinked}"


CODE_CHECKERS = [function for lab in labs.discover(ROOT / "labs") if lab.module()
                 for function in vars(lab.module()).values() if checks.runs_student_code(function)]


@pytest.mark.parametrize("checker", CODE_CHECKERS, ids=lambda checker: checker.__name__)
@pytest.mark.parametrize("answer", [None, 3, "def f(): ...", lambda *args: None, lambda *args: "text",
                                    lambda *args: 1 / 0], ids=["None", "number", "string", "no-return", "text",
                                                               "raises"])
def test_any_answer_gets_feedback_not_a_traceback(checker, answer):
    feedback = checker(answer)
    assert isinstance(feedback, checks.Feedback) and not feedback and feedback.message
