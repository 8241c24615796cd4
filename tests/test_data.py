"""ftlab.data: every malformed row gets one error naming file, line and problem."""

import json
import warnings

import pytest

from ftlab import data


def write(tmp_path, rows, name="bad.jsonl"):
    path = tmp_path / name
    path.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD_SFT = {"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}


@pytest.mark.parametrize(("kind", "bad_row", "problem"), [
    ("sft", {"text": "no messages"}, "missing field 'messages'"),
    ("sft", {"messages": []}, "non-empty list of messages"),
    ("sft", {"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "x"}]},
     "messages[0] (role 'user') has empty content"),
    ("sft", {"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]},
     "messages[0] has role 'assistant', expected 'user'"),
    ("sft", {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
     "messages[1] has role 'user', expected 'assistant'"),
    ("sft", {"messages": [{"role": "user", "content": "a"}]},
     "field 'messages' must end with a message from 'assistant', not 'user'"),
    ("sft", {"messages": [{"content": "a"}]}, "must be an object with 'role' and 'content'"),
    ("preference", {"prompt": "q", "chosen": "same", "rejected": "same"}, "'chosen' equals 'rejected'"),
    ("preference", {"prompt": "q", "chosen": "a"}, "missing field 'rejected'"),
    ("preference", {"prompt": [{"role": "user", "content": "q"}],
                    "chosen": [{"role": "assistant", "content": "a"}],
                    "rejected": [{"role": "assistant", "content": "a"}]}, "'chosen' equals 'rejected'"),
    ("unpaired", {"prompt": "q", "completion": "a", "label": "yes"}, "field 'label' must be true or false"),
    ("unpaired", {"prompt": "q", "completion": "a"}, "missing field 'label'"),
    ("eval", {"question": "q", "answer": 3}, "field 'answer' must be a string"),
    ("corpus", ["a list"], "expected a JSON object, got list"),
])
def test_bad_row_error_names_file_line_and_problem(tmp_path, kind, bad_row, problem):
    good = {"sft": GOOD_SFT, "preference": {"prompt": "q", "chosen": "a", "rejected": "b"},
            "unpaired": {"prompt": "q", "completion": "a", "label": True},
            "eval": {"question": "q", "answer": "a"}, "corpus": {"text": "t"}}[kind]
    path = write(tmp_path, [good, good, bad_row])
    with pytest.raises(data.DatasetError) as error:
        data.load_rows(path, kind)
    message = str(error.value)
    assert message.startswith(f"{path}, line 3: ") and problem in message


def test_bad_json_names_line_and_column(tmp_path):
    path = write(tmp_path, [GOOD_SFT, '{"messages": [oops]}\n'])
    with pytest.raises(data.DatasetError, match=r"bad\.jsonl, line 2: bad JSON \(Expecting value at column 15\)"):
        data.load_rows(path, "sft")


def test_blank_lines_are_skipped_but_counted(tmp_path):
    path = write(tmp_path, [GOOD_SFT, "\n", {"messages": "nope"}])
    with pytest.raises(data.DatasetError, match="line 3: field 'messages' must be a non-empty list"):
        data.load_rows(path, "sft")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(data.DatasetError, match="no such file"):
        data.load_rows(tmp_path / "absent.jsonl", "sft")
    with pytest.raises(data.DatasetError, match="no rows"):
        data.load_rows(write(tmp_path, ["\n"]), "sft")
    with pytest.raises(ValueError, match="unknown dataset kind"):
        data.load_rows(write(tmp_path, [GOOD_SFT]), "chat")


@pytest.mark.parametrize(("name", "count"), [("corpus", 288), ("sft", 1520), ("preference", 384),
                                             ("preference_eval", 192), ("unpaired", 768), ("eval", 240)])
def test_course_datasets_are_valid(name, count):
    assert len(data.course_dataset(name)) == count


def test_split_is_seeded_and_warns_when_small():
    sft = data.course_dataset("sft")
    train_a, eval_a = data.train_eval_split(sft, 0.1, seed=3)
    train_b, _ = data.train_eval_split(sft, 0.1, seed=3)
    train_c, _ = data.train_eval_split(sft, 0.1, seed=4)
    assert (len(train_a), len(eval_a)) == (1368, 152)
    assert train_a["messages"] == train_b["messages"] != train_c["messages"]
    with pytest.warns(data.SmallDatasetWarning, match="only 45 examples"):
        data.train_eval_split(sft.select(range(50)), 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.train_eval_split(sft, 0.1)
