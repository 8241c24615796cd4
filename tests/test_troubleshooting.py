"""TROUBLESHOOTING.md quotes real messages: reproduce each on the toy profile and check the page still matches."""

import re
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from ftlab import data, profiles, toy

PAGE = (Path(__file__).resolve().parents[1] / "TROUBLESHOOTING.md").read_text(encoding="utf-8")
HEADINGS = re.findall(r"^## (.+)$", PAGE, flags=re.M)


def heading_for(message: str) -> str:
    """The section heading that quotes the start of ``message``."""
    matches = [h for h in HEADINGS if message.startswith(h.split(": ", 1)[-1].split("…")[0].rstrip("'"))]
    assert matches, f"no TROUBLESHOOTING.md section quotes: {message[:100]}"
    return matches[0]


def test_missing_chat_template_message():
    tokenizer = AutoTokenizer.from_pretrained(toy.model_dir())
    tokenizer.chat_template = None
    with pytest.raises(ValueError) as error:
        tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert heading_for(str(error.value)).startswith("ValueError: ")


def test_dataset_error_message(tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_text('{"messages": []}\n')
    with pytest.raises(data.DatasetError) as error:
        data.load_rows(path, "sft")
    assert "ftlab.data.DatasetError: datasets/….jsonl, line N: …" in HEADINGS
    assert re.fullmatch(r".+\.jsonl, line \d+: .+", str(error.value))


def test_unknown_profile_message():
    with pytest.raises(ValueError) as error:
        profiles.get("tiny")
    assert heading_for(str(error.value)) == "ValueError: unknown profile '…' (from FTLAB_PROFILE or the caller)"
