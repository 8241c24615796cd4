"""Load and validate the course datasets; every malformed row gets one error naming file, line and problem.

Files are UTF-8 (a byte-order mark is allowed), one JSON object per line of at most ``MAX_LINE_BYTES``.

Formats (one JSON object per line):
- ``corpus``: ``{"text": str}``
- ``sft``: ``{"messages": [{"role", "content"}, ...]}`` — optional system message, then user/assistant
  turns alternating, ending with the assistant.
- ``preference``: ``{"prompt", "chosen", "rejected"}`` — strings, or message lists (prompt ends with a
  user turn; chosen/rejected are one assistant message). Chosen must differ from rejected.
- ``unpaired``: ``{"prompt", "completion", "label": bool}`` (KTO's thumbs up/down; a warning if all labels agree).
- ``eval``: ``{"question": str, "answer": str, ...}``.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import datasets
from ftlab.paths import DATASETS_DIR

MIN_TRAIN_EXAMPLES = 100
MAX_LINE_BYTES = 16 * 2**20  # one row; a longer line is not a training example, and would be read whole

# The course's datasets are small and every trainer maps them several times: a progress bar per map is noise in a
# notebook, and each is a dozen widget messages (past ~1000 messages in one cell, nbval loses the cell's end).
datasets.disable_progress_bars()


class DatasetError(ValueError):
    """A dataset file or row is malformed; the message names file, line and problem."""


class OneSidedLabelsWarning(UserWarning):
    """A KTO set whose labels are all true or all false: the loss has only one side."""


class SmallDatasetWarning(UserWarning):
    """Fewer training examples than fine-tuning needs to generalise (it tends to overfit into gibberish)."""


def _text(row: dict, key: str) -> str:
    if key not in row:
        raise ValueError(f"missing field '{key}' (fields present: {sorted(row) or 'none'})")
    value = row[key]
    if not isinstance(value, str):
        raise ValueError(f"field '{key}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"field '{key}' is empty")
    return value


def _messages(value: object, key: str, *, first: str, last: str | None) -> list[dict]:
    """Check a chat: optional system message, then turns alternating from ``first``, ending with ``last``."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"field '{key}' must be a non-empty list of messages")
    expected = first
    for i, message in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(message, dict) or not {"role", "content"} <= set(message):
            raise ValueError(f"{where} must be an object with 'role' and 'content'")
        role, content = message["role"], message["content"]
        if not isinstance(content, str):
            raise ValueError(f"{where} (role '{role}') content must be a string, got {type(content).__name__}")
        if not content.strip():
            raise ValueError(f"{where} (role '{role}') has empty content")
        if i == 0 and role == "system" and first == "user":
            continue
        if role != expected:
            raise ValueError(f"{where} has role '{role}', expected '{expected}' "
                             "(roles: optional 'system' first, then 'user' and 'assistant' alternating)")
        expected = "assistant" if role == "user" else "user"
    if last is not None and value[-1]["role"] != last:
        raise ValueError(f"field '{key}' must end with a message from '{last}', not '{value[-1]['role']}'")
    return value


def _prompt_or_text(row: dict, key: str, *, first: str, last: str) -> str:
    """A field that is either a plain string or a message list; returns its text for comparisons."""
    if isinstance(row.get(key), list):
        return json.dumps(_messages(row[key], key, first=first, last=last), sort_keys=True)
    return _text(row, key)


def _check_corpus(row: dict) -> None:
    _text(row, "text")


def _check_sft(row: dict) -> None:
    if "messages" not in row:
        raise ValueError(f"missing field 'messages' (fields present: {sorted(row) or 'none'})")
    _messages(row["messages"], "messages", first="user", last="assistant")


def _check_preference(row: dict) -> None:
    _prompt_or_text(row, "prompt", first="user", last="user")
    chosen = _prompt_or_text(row, "chosen", first="assistant", last="assistant")
    rejected = _prompt_or_text(row, "rejected", first="assistant", last="assistant")
    if chosen == rejected:
        raise ValueError("'chosen' equals 'rejected': a preference pair must prefer one answer over another")


def _check_unpaired(row: dict) -> None:
    _prompt_or_text(row, "prompt", first="user", last="user")
    _prompt_or_text(row, "completion", first="assistant", last="assistant")
    if "label" not in row:
        raise ValueError("missing field 'label' (true for a desirable completion, false otherwise)")
    if not isinstance(row["label"], bool):
        raise ValueError(f"field 'label' must be true or false, got {row['label']!r}")


def _check_eval(row: dict) -> None:
    _text(row, "question")
    _text(row, "answer")


CHECKS: dict[str, Callable[[dict], None]] = {
    "corpus": _check_corpus, "sft": _check_sft, "preference": _check_preference,
    "unpaired": _check_unpaired, "eval": _check_eval,
}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Each line of ``path`` with its number, decoded as UTF-8 (a byte-order mark at the start is allowed)."""
    with path.open("rb") as handle:
        for lineno in itertools.count(1):
            raw = handle.readline(MAX_LINE_BYTES + 1)  # never more than that in memory, whatever the file holds
            if not raw:
                return
            if len(raw) > MAX_LINE_BYTES:
                raise DatasetError(f"{path}, line {lineno}: longer than {MAX_LINE_BYTES // 2**20} MiB; a dataset "
                                   "file holds one JSON object per line")
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                where = f"byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line"
                if lineno == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    where = "it starts with a UTF-16 byte-order mark"
                raise DatasetError(f"{path}, line {lineno}: not valid UTF-8 ({where}); save the file as UTF-8") \
                    from None
            yield lineno, line


def load_rows(path: str | Path, kind: str) -> list[dict]:
    """Read a JSONL file and validate every row as ``kind``; raise :class:`DatasetError` on the first bad one.

    For ``unpaired`` (KTO) data, warn (:class:`OneSidedLabelsWarning`) when every label is the same.
    """
    if kind not in CHECKS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {sorted(CHECKS)}")
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    rows = []
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}, line {lineno}: bad JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise DatasetError(f"{path}, line {lineno}: JSON nested too deeply to be a dataset row") from None
        try:
            if not isinstance(row, dict):
                raise ValueError(f"expected a JSON object, got {type(row).__name__}")
            CHECKS[kind](row)
        except ValueError as exc:
            raise DatasetError(f"{path}, line {lineno}: {exc}") from None
        rows.append(row)
    if not rows:
        raise DatasetError(f"{path}: no rows")
    if kind == "unpaired":
        _warn_if_one_sided(path, [row["label"] for row in rows])
    return rows


def _warn_if_one_sided(path: Path, labels: list[bool]) -> None:
    if all(labels):
        effect = ("KTO's loss then has only its desirable term: it raises these answers' likelihood against the "
                  "reference point z0 (much like SFT) and pushes nothing down, so it learns nothing about what to "
                  "avoid; add undesirable answers (label false)")
    elif not any(labels):
        effect = ("KTO's loss then has only its undesirable term: it pushes these answers' likelihood below the "
                  "reference point z0 and shows nothing to say instead, so the likelihood of good answers can fall "
                  "with them; add desirable answers (label true)")
    else:
        return
    warnings.warn(f"{path}: all {len(labels)} rows have label {str(labels[0]).lower()}: {effect}",
                  OneSidedLabelsWarning, stacklevel=3)


def load_dataset(path: str | Path, kind: str) -> datasets.Dataset:
    """Validated rows as a Hugging Face ``Dataset`` (what TRL's trainers take)."""
    return datasets.Dataset.from_list(load_rows(path, kind))


COURSE_KINDS = {"corpus": "corpus", "sft": "sft", "preference": "preference", "preference_eval": "preference",
                "unpaired": "unpaired", "eval": "eval"}


def course_dataset(name: str) -> datasets.Dataset:
    """One of the course's own datasets in ``datasets/`` by name (e.g. ``"sft"``, ``"eval"``)."""
    if name not in COURSE_KINDS:
        raise ValueError(f"unknown course dataset {name!r}; choose one of {sorted(COURSE_KINDS)}")
    return load_dataset(DATASETS_DIR / f"{name}.jsonl", COURSE_KINDS[name])


def warn_if_small(n_train: int, where: str = "training set") -> None:
    """Warn when a training set is below :data:`MIN_TRAIN_EXAMPLES` examples."""
    if n_train < MIN_TRAIN_EXAMPLES:
        warnings.warn(f"{where} has only {n_train} examples (< {MIN_TRAIN_EXAMPLES}): fine-tuning on so few "
                      "tends to memorise them and produce gibberish on anything else", SmallDatasetWarning,
                      stacklevel=3)


def train_eval_split(dataset: datasets.Dataset, eval_fraction: float = 0.1,
                     seed: int = 0) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Shuffle with ``seed`` and split off ``eval_fraction`` for evaluation; warn if training is small."""
    if not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
    parts = dataset.train_test_split(test_size=eval_fraction, seed=seed, shuffle=True)
    warn_if_small(len(parts["train"]))
    return parts["train"], parts["test"]


def to_prompt_completion(dataset: datasets.Dataset) -> datasets.Dataset:
    """Turn chats into prompt/completion pairs: everything before the last assistant turn is the prompt.

    TRL then computes the loss on the completion only (``completion_only_loss``), so the model learns to
    answer, not to reproduce questions.
    """
    def split(row: dict) -> dict:
        messages = row["messages"]
        return {"prompt": messages[:-1], "completion": messages[-1:]}

    return dataset.map(split, remove_columns=["messages"])
