"""An Ollama Modelfile from the model's own chat template and special tokens.

Ollama does not run Jinja: its ``TEMPLATE`` is a Go template over ``.System`` and ``.Messages``. ``chat_template``
finds the pieces of the Hugging Face template — what goes before and after each role's content, the generation
prompt, any default system block — by rendering a conversation whose contents are unique markers, and writes them
into a Go template. ``tests/test_modelfile.py`` renders that Go template with Go's text/template, as Ollama
does, and checks it equals the HF rendering.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ftlab.files import staged_file

_MARKERS = {"system": "\u2063SYSTEM\u2063", "user": "\u2063USER1\u2063", "assistant": "\u2063ASSISTANT\u2063",
            "user2": "\u2063USER2\u2063"}


class ModelfileError(ValueError):
    """The chat template has a shape this translation does not cover; write the TEMPLATE by hand."""


def _render(tokenizer, messages: list[dict], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _go_text(text: str) -> str:
    """Literal template text; ``{{`` would start an action, so it is emitted as a Go string constant."""
    return text.replace("{{", '{{ "{{" }}')


def template_parts(tokenizer) -> dict[str, str]:
    """The literal pieces around each role's content, found by rendering marked conversations."""
    m = _MARKERS
    conversation = [{"role": "system", "content": m["system"]}, {"role": "user", "content": m["user"]},
                    {"role": "assistant", "content": m["assistant"]}, {"role": "user", "content": m["user2"]}]
    full = _render(tokenizer, conversation, True)
    without_prompt = _render(tokenizer, conversation, False)
    without_system = _render(tokenizer, conversation[1:], True)
    if not full.startswith(without_prompt) or not all(marker in full for marker in m.values()):
        raise ModelfileError("the chat template drops or rewrites message contents, or its generation prompt is "
                             "not appended at the end; write the Modelfile TEMPLATE by hand")
    generation = full[len(without_prompt):]
    # The full rendering, cut at the four markers:
    #   before_system SYSTEM system_to_user USER1 user_to_assistant ASSISTANT assistant_to_user USER2 after_user
    before_system, rest = full.split(m["system"])
    system_to_user, rest = rest.split(m["user"])
    user_to_assistant, rest = rest.split(m["assistant"])
    assistant_to_user, after_user = rest.split(m["user2"])
    before_user_without_system = without_system.split(m["user"])[0]  # any default system block, then user
    user_suffix = after_user.removesuffix(generation)
    user_prefix = assistant_to_user[len(user_suffix):]
    # Between an assistant turn and the next user turn: the end of a turn, then the user's header. Every turn is
    # assumed to end the same way; tests/test_modelfile.py renders the result to check such assumptions.
    if not assistant_to_user.startswith(user_suffix) or not system_to_user.endswith(user_prefix) \
            or not before_user_without_system.endswith(user_prefix):
        raise ModelfileError("the chat template ends assistant and user turns differently; write the Modelfile "
                             "TEMPLATE by hand")
    bos = tokenizer.bos_token or ""
    head = bos if bos and before_system.startswith(bos) and not user_prefix.startswith(bos) else ""
    return {"head": head, "system_prefix": before_system[len(head):],
            "system_suffix": system_to_user[: len(system_to_user) - len(user_prefix)],
            "user_prefix": user_prefix, "user_suffix": user_suffix,
            "assistant_prefix": user_to_assistant[len(user_suffix):],
            "assistant_suffix": assistant_to_user[: len(assistant_to_user) - len(user_prefix)],
            "generation": generation,
            "default_system": before_user_without_system[len(head): len(before_user_without_system) - len(user_prefix)]}


def go_template(parts: dict[str, str]) -> str:
    """The Ollama TEMPLATE (Go template syntax) built from ``template_parts``."""
    t = {key: _go_text(value) for key, value in parts.items()}
    return (f"{t['head']}{{{{ if not .System }}}}{t['default_system']}{{{{ end }}}}"
            "{{ range .Messages }}"
            f"{{{{ if eq .Role \"system\" }}}}{t['system_prefix']}{{{{ .Content }}}}{t['system_suffix']}"
            f"{{{{ else if eq .Role \"user\" }}}}{t['user_prefix']}{{{{ .Content }}}}{t['user_suffix']}"
            f"{{{{ else if eq .Role \"assistant\" }}}}{t['assistant_prefix']}{{{{ .Content }}}}{t['assistant_suffix']}"
            f"{{{{ end }}}}{{{{ end }}}}{t['generation']}")


def stop_tokens(tokenizer, parts: dict[str, str]) -> list[str]:
    """EOS and every special token that ends an assistant turn: where generation must stop."""
    special = set(tokenizer.all_special_tokens) | {t.content for t in tokenizer.added_tokens_decoder.values()
                                                   if t.special}
    stops = [tokenizer.eos_token] if tokenizer.eos_token else []
    stops += [token for token in sorted(special, key=len, reverse=True)
              if token and token in parts["assistant_suffix"] and token not in stops]
    if not stops:
        raise ModelfileError("the tokenizer has no EOS token and the assistant turn ends in no special token: "
                             "a model exported like this would never stop")
    return stops


def _quoted(value: str, what: str) -> str:
    """``value`` as a one-line Modelfile string. Ollama's parser strips the quotes and decodes no escapes (``\\n``,
    ``\\uXXXX`` stay as typed), so the characters are written as they are, in UTF-8. It drops unprintable
    characters, ends the value at a newline, and reads three leading quotes as a multi-line string: such values
    are refused."""
    if not value.isprintable() or value.startswith('""'):
        raise ModelfileError(f"{what} {value!r} cannot be written in a Modelfile: Ollama would read it differently "
                             "(unprintable characters, a newline, or two leading quotes)")
    return f'"{value}"'


def modelfile_text(gguf_name: str, tokenizer, context_length: int = 4096, temperature: float = 0.7,
                   adds_bos: bool = False) -> str:
    """The Modelfile: FROM the GGUF file (next to it), TEMPLATE, one PARAMETER stop per stop token, defaults.

    ``adds_bos``: the GGUF says its tokenizer adds BOS (metadata ``tokenizer.ggml.add_bos_token``), so the runtime
    puts it in front; the template then leaves it out, or the prompt would start with two.
    """
    parts = template_parts(tokenizer)
    if adds_bos and parts["head"] == tokenizer.bos_token:
        parts["head"] = ""
    template = go_template(parts)
    if '"""' in template or not all(c.isprintable() or c in "\n\r\t" for c in template):
        raise ModelfileError('the chat template contains """ (which ends a Modelfile string) or unprintable '
                             "characters (which Ollama drops); write the Modelfile TEMPLATE by hand")
    lines = [f"FROM {_quoted(f'./{gguf_name}', 'the GGUF file name')}", f'TEMPLATE """{template}"""']
    lines += [f"PARAMETER stop {_quoted(token, 'the stop token')}" for token in stop_tokens(tokenizer, parts)]
    lines += [f"PARAMETER num_ctx {context_length}", f"PARAMETER temperature {temperature}"]
    return "\n".join(lines) + "\n"


def write_modelfile(gguf_file: str | Path, tokenizer, context_length: int = 4096, adds_bos: bool = False) -> Path:
    """Write ``Modelfile`` next to the GGUF file (never over an existing one); returns its path."""
    gguf_file = Path(gguf_file)
    destination = gguf_file.with_name("Modelfile")
    text = modelfile_text(gguf_file.name, tokenizer, context_length, adds_bos=adds_bos)
    with staged_file(destination) as staging:
        staging.write_text(text, encoding="utf-8")  # what Ollama reads, whatever the locale
    return destination


def ollama_commands(model_name: str, modelfile: str | Path, question: str) -> list[str]:
    """The shell commands that put the model into Ollama and ask it ``question`` (every argument quoted, so that
    a space or ``$(...)`` in a folder or question is passed on as text)."""
    modelfile = Path(modelfile)
    name = shlex.quote(model_name)
    return [f"cd {shlex.quote(str(modelfile.parent))}", f"ollama create {name} -f {shlex.quote(modelfile.name)}",
            f"ollama run {name} {shlex.quote(question)}"]
