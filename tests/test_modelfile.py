"""ftlab.modelfile: the Ollama Modelfile's Go TEMPLATE renders conversations exactly as the HF chat template does.

The TEMPLATE is rendered by Go's own text/template, the engine Ollama runs: ``tests/ollama_template/render.go``,
built once per session, is fed the messages the way Ollama collates them. It needs Go (``apt-get install
golang-go``); without it these tests fail rather than skip, since nothing else checks the template.
"""

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
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


RENDER_GO = Path(__file__).with_name("ollama_template") / "render.go"


@pytest.fixture(scope="session")
def go_renderer(tmp_path_factory) -> Path:
    """render.go built with the standard library alone (no module download, no C compiler)."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is not installed: the Modelfile TEMPLATE is checked with Go's text/template, the engine "
                    "Ollama uses. Debian/Ubuntu: sudo apt-get install golang-go", pytrace=False)
    binary = tmp_path_factory.mktemp("ollama_template") / "render"
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "", "GOWORK": "off", "GOTOOLCHAIN": "local"}
    if not any(env.get(name) for name in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        env["GOCACHE"] = str(binary.parent / "gocache")  # Go needs a build cache; it finds none to use
    result = subprocess.run([go, "build", "-o", str(binary), str(RENDER_GO)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"go build {RENDER_GO.name} failed:\n{result.stderr}"
    return binary


@pytest.fixture
def render(go_renderer):
    """``render(template, messages, system="")``: the prompt Ollama builds; ``system`` is the Modelfile's SYSTEM."""
    def run(template: str, messages: list[dict], system: str = "") -> str:
        result = subprocess.run([go_renderer], capture_output=True,
                                input=json.dumps({"template": template, "messages": messages, "system": system})
                                .encode("utf-8"))
        assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
        return result.stdout.decode("utf-8")  # bytes: text mode would turn \r\n into \n
    return run


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
def test_template_renders_like_hf(toy_tokenizer, render, family):
    tokenizer = {"toy": toy_tokenizer,
                 "chatml": with_template(toy_tokenizer, CHATML, ["<|im_start|>", "<|im_end|>"]),
                 "llama3-like": with_template(toy_tokenizer, LLAMA3_LIKE,
                                              ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"])}[family]
    template = template_of(modelfile.modelfile_text("model.gguf", tokenizer))
    for conversation in CONVERSATIONS:
        expected = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        assert render(template, conversation) == expected
        if conversation[0]["role"] != "system":  # a SYSTEM line added to the Modelfile: Ollama puts it in front
            with_system = [{"role": "system", "content": "Be kind."}, *conversation]
            assert render(template, conversation, system="Be kind.") == \
                tokenizer.apply_chat_template(with_system, tokenize=False, add_generation_prompt=True)


def test_modelfile_directives(toy_tokenizer):
    text = modelfile.modelfile_text("toy-Q4_K_M.gguf", toy_tokenizer, context_length=512)
    lines = text.splitlines()
    assert lines[0] == 'FROM "./toy-Q4_K_M.gguf"'
    assert 'PARAMETER stop "</s>"' in lines  # EOS: without it generation runs on to the length limit
    assert "PARAMETER num_ctx 512" in lines
    chatml = with_template(toy_tokenizer, CHATML, ["<|im_start|>", "<|im_end|>"])
    assert 'PARAMETER stop "<|im_end|>"' in modelfile.modelfile_text("m.gguf", chatml).splitlines()


def test_bos_left_to_the_runtime_when_the_gguf_adds_it(toy_tokenizer, render):
    with_bos = template_of(modelfile.modelfile_text("m.gguf", toy_tokenizer))
    without = template_of(modelfile.modelfile_text("m.gguf", toy_tokenizer, adds_bos=True))
    assert with_bos.startswith("<s>") and not without.startswith("<s>")
    conversation = CONVERSATIONS[0]
    assert "<s>" + render(without, conversation) == render(with_bos, conversation)


# A TEMPLATE written by hand (what ModelfileError asks for) in the style of Ollama's library: trim markers, variables,
# len and slice, which only a real Go text/template runs.
CHATML_BY_HAND = """{{- if not .System }}<|im_start|>system
You are helpful.<|im_end|>
{{ end }}
{{- range $i, $m := .Messages }}<|im_start|>{{ $m.Role }}
{{ $m.Content }}<|im_end|>
{{ if eq (len (slice $.Messages $i)) 1 }}<|im_start|>assistant
{{ end }}
{{- end }}"""


def test_hand_written_template_in_ollama_style_renders_like_hf(toy_tokenizer, render):
    chatml = with_template(toy_tokenizer, CHATML, ["<|im_start|>", "<|im_end|>"])
    for conversation in CONVERSATIONS:
        expected = chatml.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        assert render(CHATML_BY_HAND, conversation) == expected


def test_renderer_collates_like_ollama_and_reports_errors(render):
    """Ollama joins system messages into .System and merges consecutive messages of one role; a template Go
    cannot run fails the test instead of rendering something."""
    messages = [{"role": "system", "content": "s1"}, {"role": "system", "content": "s2"},
                {"role": "user", "content": "u1"}, {"role": "user", "content": "u2"}]
    assert render("{{ .System }}|{{ range .Messages }}{{ .Role }}={{ .Content }};{{ end }}", messages) == \
        "s1\n\ns2|system=s1\n\ns2;user=u1\n\nu2;"
    for broken in ("{{ range .Messages }}", "{{ range .Messages }}{{ .Nope }}{{ end }}"):
        with pytest.raises(AssertionError, match="render.go"):
            render(broken, messages)


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
