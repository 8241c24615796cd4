"""ftlab.modelfile: the Ollama Modelfile's Go TEMPLATE renders conversations exactly as the HF chat template does."""

import copy
import os
import re
import subprocess

import pytest
from gotemplate import render
from transformers import AutoTokenizer

from ftlab import modelfile, toy

CONVERSATIONS = [
    [{"role": "user", "content": "What colour is the zarp?"}],
    [{"role": "system", "content": "Answer in one sentence."}, {"role": "user", "content": "Where does it live?"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
     {"role": "user", "content": "What does the zarp eat?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a"},
     {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"},
     {"role": "user", "content": "e {{ not a Go action }}"}],
]
# Two other template families, to show the translation is not toy-specific: ChatML (Qwen) with a default system
# prompt, and a Llama-3-style template with BOS once and a system header that is always present.
CHATML = ("{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are helpful.<|im_end|>\n{% endif %}"
          "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LLAMA3_LIKE = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}"
               "{% set messages = messages[1:] %}{% else %}{% set sys = '' %}{% endif %}"
               "<|start_header_id|>system<|end_header_id|>\n\nKnowledge: 2023\n\n{{ sys }}<|eot_id|>"
               "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}"
               "<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
               "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")


@pytest.fixture(scope="module")
def toy_tokenizer():
    return AutoTokenizer.from_pretrained(toy.model_dir())


def with_template(tokenizer, template, special=()):
    other = copy.deepcopy(tokenizer)
    other.chat_template = template
    other.add_special_tokens({"additional_special_tokens": list(special)})
    return other


def template_of(text: str) -> str:
    return re.search(r'^TEMPLATE """(.*)"""$', text, re.M | re.S).group(1)


@pytest.mark.parametrize("family", ["toy", "chatml", "llama3-like"])
def test_template_renders_like_hf(toy_tokenizer, family):
    tokenizer = {"toy": toy_tokenizer,
                 "chatml": with_template(toy_tokenizer, CHATML, ["<|im_start|>", "<|im_end|>"]),
                 "llama3-like": with_template(toy_tokenizer, LLAMA3_LIKE,
                                              ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"])}[family]
    template = template_of(modelfile.modelfile_text("model.gguf", tokenizer))
    for conversation in CONVERSATIONS:
        expected = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        assert render(template, "", conversation) == expected


def test_modelfile_directives(toy_tokenizer):
    text = modelfile.modelfile_text("toy-Q4_K_M.gguf", toy_tokenizer, context_length=512)
    lines = text.splitlines()
    assert lines[0] == 'FROM "./toy-Q4_K_M.gguf"'
    assert 'PARAMETER stop "</s>"' in lines  # EOS: without it generation runs on to the length limit
    assert "PARAMETER num_ctx 512" in lines
    chatml = with_template(toy_tokenizer, CHATML, ["<|im_start|>", "<|im_end|>"])
    assert 'PARAMETER stop "<|im_end|>"' in modelfile.modelfile_text("m.gguf", chatml).splitlines()


def test_bos_left_to_the_runtime_when_the_gguf_adds_it(toy_tokenizer):
    with_bos = template_of(modelfile.modelfile_text("m.gguf", toy_tokenizer))
    without = template_of(modelfile.modelfile_text("m.gguf", toy_tokenizer, adds_bos=True))
    assert with_bos.startswith("<s>") and not without.startswith("<s>")
    conversation = CONVERSATIONS[0]
    assert "<s>" + render(without, "", conversation) == render(with_bos, "", conversation)


def test_untranslatable_template_is_refused(toy_tokenizer):
    reversed_roles = with_template(toy_tokenizer, "{% for m in messages %}{{ m['content'] }}[{{ m['role'] }}]"
                                                  "{% if m['role'] == 'user' %}<u>{% endif %}{% endfor %}")
    with pytest.raises(modelfile.ModelfileError, match="by hand"):
        modelfile.modelfile_text("m.gguf", reversed_roles)


def test_write_modelfile_never_overwrites(tmp_path, toy_tokenizer):
    gguf = tmp_path / "toy.gguf"
    path = modelfile.write_modelfile(gguf, toy_tokenizer)
    assert path.read_text().startswith('FROM "./toy.gguf"')
    with pytest.raises(FileExistsError, match="already exists"):
        modelfile.write_modelfile(gguf, toy_tokenizer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Modelfile"]


def ollama_reads(line: str) -> str:
    """The value Ollama's Modelfile parser (parser/parser.go, ParseFile and unquote) takes from a one-line command:
    the rest of the line after the command (and a parameter's name), unprintable characters dropped, trimmed, one
    pair of quotes or triple quotes stripped; no escape sequence is decoded."""
    command, _, rest = line.partition(" ")
    if command == "PARAMETER":
        rest = rest.partition(" ")[2]
    value = "".join(c for c in rest if c.isprintable()).strip()
    for quote in ('"""', '"'):
        if value.startswith(quote):
            assert len(value) >= 2 * len(quote) and value.endswith(quote), f"Ollama reads on past: {line}"
            return value[len(quote):-len(quote)]
    return value


def test_non_ascii_stop_token_and_spaced_file_name_read_back_as_written(tmp_path, toy_tokenizer):
    """json.dumps wrote \\uff5c escapes, which Ollama keeps as typed: the model never stopped."""
    end = "<\uff5cend\u2581of\u2581sentence\uff5c>"  # DeepSeek's end-of-turn token
    template = ("{% for m in messages %}<\uff5c{{ m['role'] }}\uff5c>{{ m['content'] }}" + end + "{% endfor %}"
                "{% if add_generation_prompt %}<\uff5cassistant\uff5c>{% endif %}")
    tokenizer = with_template(toy_tokenizer, template, [end])
    path = modelfile.write_modelfile(tmp_path / "my model.gguf", tokenizer)
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert ollama_reads(lines[0]) == "./my model.gguf"
    assert end in [ollama_reads(line) for line in lines if line.startswith("PARAMETER stop ")]


def test_ollama_commands_pass_folder_and_question_as_text(tmp_path):
    folder = tmp_path / "my models"
    folder.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ollama").write_text('#!/bin/sh\nprintf "%s|" "$PWD" "$@"; echo\n')
    (bin_dir / "ollama").chmod(0o755)
    question = "What does the zarp eat? $(touch pwned) `touch pwned` \"it's\""
    commands = modelfile.ollama_commands("ftlab-toy", folder / "Modelfile", question)
    result = subprocess.run(["bash", "-c", " && ".join(commands)], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{folder}|create|ftlab-toy|-f|Modelfile|",
                                          f"{folder}|run|ftlab-toy|{question}|"]
    assert not list(tmp_path.rglob("pwned"))
