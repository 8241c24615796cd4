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


@pytest.mark.parametrize(("encoding", "problem"), [
    ("latin-1", r"line 2: not valid UTF-8 \(byte 0xe9 at byte 47 of the line\); save the file as UTF-8"),
    ("utf-16", r"line 1: not valid UTF-8 \(it starts with a UTF-16 byte-order mark\)"),
])
def test_file_not_in_utf8_names_file_and_line(tmp_path, encoding, problem):
    path = tmp_path / "sft.jsonl"
    rows = [GOOD_SFT, {"messages": [{"role": "user", "content": "Café?"}, {"role": "assistant", "content": "Oui."}]}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding=encoding)
    with pytest.raises(data.DatasetError, match=rf"^{tmp_path}/sft\.jsonl, {problem}"):
        data.load_rows(path, "sft")


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_text(json.dumps(GOOD_SFT) + "\n", encoding="utf-8-sig")
    assert data.load_rows(path, "sft") == [GOOD_SFT]


def test_deeply_nested_and_overlong_lines_are_refused(tmp_path, monkeypatch):
    nested = write(tmp_path, [GOOD_SFT, "[" * 100_000 + "]" * 100_000 + "\n"])
    with pytest.raises(data.DatasetError, match="line 2: JSON nested too deeply"):
        data.load_rows(nested, "sft")
    monkeypatch.setattr(data, "MAX_LINE_BYTES", 2**20)
    long = write(tmp_path, [{"text": "t"}, {"text": "x" * 2**21}], name="long.jsonl")
    with pytest.raises(data.DatasetError, match=r"long\.jsonl, line 2: longer than 1 MiB"):
        data.load_rows(long, "corpus")


def test_content_that_is_not_a_string_is_named(tmp_path):
    path = write(tmp_path, [{"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "a"}]}])
    with pytest.raises(data.DatasetError, match=r"line 1: messages\[0\] \(role 'user'\) content must be a string, "
                                                 "got int"):
        data.load_rows(path, "sft")


@pytest.mark.parametrize("label", [True, False])
def test_one_sided_kto_labels_warn_about_the_loss(tmp_path, label):
    rows = [{"prompt": f"q{i}", "completion": "a", "label": label} for i in range(3)]
    with pytest.warns(data.OneSidedLabelsWarning, match=rf"all 3 rows have label {str(label).lower()}: KTO's loss "
                                                        "then has only its (desirable|undesirable) term"):
        data.load_rows(write(tmp_path, rows), "unpaired")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load_rows(write(tmp_path, [*rows, {**rows[0], "label": not label}]), "unpaired")
