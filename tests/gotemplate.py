"""A renderer for the subset of Go's text/template that Ollama Modelfile templates from ``ftlab.modelfile`` use:
literal text, ``{{ .Field }}``, ``{{ "string" }}``, ``{{ if X }}``/``{{ else if X }}``/``{{ else }}``/``{{ end }}``
with ``not`` and ``eq``, and ``{{ range .Messages }}``. Anything else raises, so the test cannot pass by accident.
"""

from __future__ import annotations

import re
import shlex

ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def _tokens(template: str) -> list[tuple[str, str]]:
    out, position = [], 0
    for match in ACTION.finditer(template):
        if match.group(1) or match.group(3):
            raise ValueError("trim markers {{- -}} are not supported by this renderer")
        out.append(("text", template[position:match.start()]))
        out.append(("action", match.group(2)))
        position = match.end()
    out.append(("text", template[position:]))
    return out


def _parse(tokens: list[tuple[str, str]], position: int = 0, stop: tuple[str, ...] = ()) -> tuple[list, int, str]:
    """Nodes until one of ``stop`` (``end``/``else``...); returns (nodes, next position, the stop action)."""
    nodes = []
    while position < len(tokens):
        kind, value = tokens[position]
        position += 1
        if kind == "text":
            nodes.append(("text", value))
        elif value == "end" or value == "else" or value.startswith("else if "):
            if not stop:
                raise ValueError(f"unexpected {{{{ {value} }}}}")
            return nodes, position, value
        elif value.startswith("if "):
            branches = []
            condition = value[3:]
            while True:
                body, position, ended = _parse(tokens, position, ("end", "else"))
                branches.append((condition, body))
                if ended == "end":
                    break
                condition = ended[len("else if "):] if ended.startswith("else if ") else "true"
            nodes.append(("if", branches))
        elif value.startswith("range "):
            body, position, ended = _parse(tokens, position, ("end",))
            if ended != "end":
                raise ValueError("{{ else }} in range is not supported")
            nodes.append(("range", value[6:], body))
        else:
            nodes.append(("value", value))
    if stop:
        raise ValueError("missing {{ end }}")
    return nodes, position, ""


def _value(expression: str, dot):
    words = shlex.split(expression, posix=False)
    if words[0] == "true" and len(words) == 1:
        return True
    if words[0] == "not":
        return not _value(" ".join(words[1:]), dot)
    if words[0] == "eq":
        left, right = (_value(word, dot) for word in words[1:])
        return left == right
    if len(words) != 1:
        raise ValueError(f"unsupported expression {expression!r}")
    word = words[0]
    if word.startswith('"'):
        return word[1:-1]
    if word.startswith("."):
        return dot[word[1:]]
    raise ValueError(f"unsupported expression {expression!r}")


def _run(nodes: list, dot) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "value":
            out.append(str(_value(node[1], dot)))
        elif node[0] == "if":
            for condition, body in node[1]:
                if _value(condition, dot):  # only the first true branch runs
                    out.append(_run(body, dot))
                    break
        elif node[0] == "range":
            out.extend(_run(node[2], item) for item in _value(node[1], dot))
    return "".join(out)


def render(template: str, system: str, messages: list[dict]) -> str:
    """Render like Ollama: ``.System`` is the last system message's content, ``.Messages`` all messages."""
    nodes, _, _ = _parse(_tokens(template))
    systems = [m["content"] for m in messages if m["role"] == "system"]
    dot = {"System": systems[-1] if systems else system,
           "Messages": [{"Role": m["role"], "Content": m["content"]} for m in messages]}
    return _run(nodes, dot)
