"""A pytest plugin (``-p fake_gpu``, with tests/ on the path) that makes torch report one visible CUDA GPU.

Only what ``ftlab.hardware`` asks is faked: availability, name, compute capability, memory, bf16. Nothing can run on
it; tests/test_profiles_hardware.py runs itself under it to show that ``make test`` passes on a GPU machine.
"""

from types import SimpleNamespace

import pytest
import torch

from ftlab.estimate import GIB


def fake_gpu(monkeypatch, name: str = "NVIDIA H100 80GB HBM3", total_gib: float = 80, capability=(9, 0),
             integrated: bool = False) -> None:
    """Make torch report one CUDA GPU with these properties (undone when ``monkeypatch`` is)."""
    props = SimpleNamespace(name=name, total_memory=int(total_gib * GIB), major=capability[0], minor=capability[1],
                            is_integrated=integrated)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=0: props)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    free = int(total_gib * GIB * 0.9)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, props.total_memory))


def pytest_configure(config):
    """As a plugin: a visible H100 for the whole session (a throw-away subprocess, so never undone)."""
    fake_gpu(pytest.MonkeyPatch())
