"""`python -m ftlab prefetch`: the plan and the dry run work offline; the download is safe and explains failures."""

import dataclasses
import os
import socket
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.errors import GatedRepoError

from ftlab import prefetch, profiles
from ftlab.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    """An empty Hugging Face home; the network and the real downloader fail loudly if anything touches them."""
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("the dry run must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return home


def test_dry_run_lists_the_spark_models_offline(hf_home, capsys, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("dry run downloaded"))
    assert main(["prefetch", "--profile", "spark", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for repo_id in ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"):
        line = next(line for line in out.splitlines() if repo_id in line)
        assert "GATED" in line
    assert "~16.1 GB" in out and "~141.1 GB" in out
    assert "To download: ~157 GB" in out
    assert f"Hub cache: {hf_home / 'hub'} (" in out and "GB free)" in out
    assert "Dry run: nothing was downloaded." in out
    assert not hf_home.exists(), "a dry run must not create the cache"


def test_dry_run_ungated_lists_the_alternatives(hf_home, capsys):
    assert main(["prefetch", "--profile", "spark", "--dry-run", "--ungated"]) == 0
    out = capsys.readouterr().out
    assert "Qwen/Qwen2.5-7B-Instruct" in out and "Qwen/Qwen2.5-72B-Instruct" in out
    assert "meta-llama" not in out and "GATED" not in out
    assert "To download: ~161 GB" in out


def test_toy_profile_needs_no_download(hf_home, capsys):
    assert main(["prefetch", "--profile", "toy", "--dry-run"]) == 0
    assert "nothing to download" in capsys.readouterr().out
    assert prefetch.plan("toy") == []


def test_python_dash_m_ftlab_dry_run(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-m", "ftlab", "prefetch", "--profile", "gpu24", "--dry-run"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "meta-llama/Llama-3.2-3B-Instruct" in result.stdout and "meta-llama/Llama-3.1-8B-Instruct" in result.stdout
    assert "To download: ~22 GB" in result.stdout


def test_unknown_profile_is_one_clear_error(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-m", "ftlab", "prefetch", "--profile", "sparky", "--dry-run"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "unknown profile 'sparky'" in errors[0] and "toy, cpu, gpu24, spark" in errors[0]
    with pytest.raises(ValueError, match="unknown profile 'sparky'"):
        prefetch.plan("sparky")


def test_plan_merges_a_repo_used_twice_and_sees_the_cache(tmp_path, monkeypatch):
    same = dataclasses.replace(profiles.PROFILES["spark"], name="same",
                               qlora_model="meta-llama/Llama-3.1-8B-Instruct")
    monkeypatch.setitem(profiles.PROFILES, "same", same)
    (download,) = prefetch.plan("same", cache_dir=tmp_path)
    assert download.roles == ("LoRA base", "QLoRA base") and download.gated and not download.cached

    (tmp_path / "models--Qwen--Qwen2.5-7B-Instruct" / "snapshots" / "0123abc").mkdir(parents=True)
    downloads = prefetch.plan("spark", ungated=True, cache_dir=tmp_path)
    assert [d.cached for d in downloads] == [True, False]
    assert prefetch.bytes_to_fetch_gb(downloads) == pytest.approx(145.4)
    assert "(already in the cache)" in prefetch.describe("spark", downloads, tmp_path)


def test_sizes_and_gating():
    assert prefetch.approximate_size_gb("meta-llama/Llama-3.1-8B-Instruct") == pytest.approx(16.1)
    assert prefetch.approximate_size_gb("meta-llama/Llama-3.1-70B-Instruct") == pytest.approx(141.1)
    assert prefetch.approximate_size_gb("someone/Qwen2.5-14B-Instruct-sft") == pytest.approx(28.0)
    assert prefetch.approximate_size_gb("someone/Qwen2.5-0.5B") == pytest.approx(1.0)
    assert prefetch.approximate_size_gb("someone/tiny-model") is None
    assert prefetch.is_gated("meta-llama/Llama-3.2-3B-Instruct")
    assert not prefetch.is_gated("Qwen/Qwen2.5-7B-Instruct")
    for name, profile in profiles.PROFILES.items():  # every hub model of every profile has a known size
        for repo_id in {profile.model, profile.model_ungated, profile.qlora_model, profile.qlora_model_ungated}:
            if repo_id != profiles.TOY_MODEL:
                assert repo_id in prefetch.KNOWN_SIZES_GB, (name, repo_id)


def test_download_fetches_only_safe_files(tmp_path, monkeypatch):
    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(tmp_path / repo_id)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setattr(prefetch, "free_disk_gb", lambda path: 10_000.0)
    folders = prefetch.run(prefetch.plan("spark", cache_dir=tmp_path), cache_dir=tmp_path)
    assert [repo for repo, _ in calls] == ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"]
    assert folders == [tmp_path / repo for repo, _ in calls]
    for _, kwargs in calls:
        assert kwargs["cache_dir"] == tmp_path
        assert "trust_remote_code" not in kwargs
        patterns = kwargs["allow_patterns"]
        for wanted in ("model-00001-of-00004.safetensors", "config.json", "model.safetensors.index.json",
                       "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "merges.txt"):
            assert any(fnmatch(wanted, p) for p in patterns), wanted
        for unwanted in ("pytorch_model.bin", "original/consolidated.00.pth", "modeling_custom.py"):
            assert not any(fnmatch(unwanted, p) for p in patterns), unwanted


def test_download_refuses_a_disk_that_is_too_small(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("should not start"))
    monkeypatch.setattr(prefetch, "free_disk_gb", lambda path: 100.0)
    with pytest.raises(prefetch.PrefetchError, match=r"not enough disk .*~157 GB to download, 100 GB free"):
        prefetch.run(prefetch.plan("spark", cache_dir=tmp_path), cache_dir=tmp_path)


def test_gated_model_error_names_the_fix(tmp_path, monkeypatch):
    def gated(repo_id, **kwargs):
        error = GatedRepoError.__new__(GatedRepoError)  # the real constructor wants an HTTP response
        Exception.__init__(error, "403 Client Error: access to this model is restricted")
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", gated)
    monkeypatch.setattr(prefetch, "free_disk_gb", lambda path: 10_000.0)
    with pytest.raises(prefetch.PrefetchError) as info:
        prefetch.run(prefetch.plan("spark", cache_dir=tmp_path), cache_dir=tmp_path)
    message = str(info.value)
    assert "meta-llama/Llama-3.1-8B-Instruct is gated" in message
    assert "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct" in message
    assert "hf auth login" in message and "--ungated" in message


def test_real_download_while_offline_is_a_clear_error(hf_home, capsys, monkeypatch):
    monkeypatch.setattr(prefetch, "free_disk_gb", lambda path: 10_000.0)
    assert main(["prefetch", "--profile", "gpu24", "--ungated"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Qwen/Qwen2.5-3B-Instruct: could not download")
    assert "HF_HUB_OFFLINE" in err
