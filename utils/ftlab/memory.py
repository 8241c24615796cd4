"""Measure the peak memory of a block of code (peak RSS on CPU, max allocated on CUDA), and free it between runs."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

from ftlab.units import MIB

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class PeakMemory:
    """Filled in when the ``measure_peak`` block ends: bytes before, at the peak, and the rise."""

    device: str = "cpu"
    before_bytes: int = 0
    peak_bytes: int = 0

    @property
    def delta_bytes(self) -> int:
        """How far the block raised memory above where it started."""
        return max(0, self.peak_bytes - self.before_bytes)

    @property
    def delta_mib(self) -> float:
        """:attr:`delta_bytes` in MiB."""
        return self.delta_bytes / MIB


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{_STATUS} has no {field} line")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) for this process; False where that is impossible."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def current_rss_bytes() -> int:
    """Resident memory of this process now."""
    return _status_kib("VmRSS") * 1024


@contextmanager
def measure_peak(device: str | None = None) -> Iterator[PeakMemory]:
    """Context manager measuring the peak memory of its block.

    On CUDA it reports ``torch.cuda.max_memory_allocated``; on CPU the process's peak RSS, which Linux
    lets us reset at the start of the block (elsewhere the peak since process start is reported).
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    result = PeakMemory(device=device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        result.before_bytes = torch.cuda.memory_allocated()
        yield result
        torch.cuda.synchronize()
        result.peak_bytes = torch.cuda.max_memory_allocated()
        return
    if _STATUS.exists() and _reset_peak_rss():
        result.before_bytes = current_rss_bytes()
        yield result
        result.peak_bytes = _status_kib("VmHWM") * 1024
        return
    result.before_bytes = 0
    yield result
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    result.peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def release_free_heap() -> None:
    """Hand memory that Python and torch have freed back to the OS (glibc's ``malloc_trim``), so that the next
    peak-RSS measurement counts what is new; a no-op where the C library is not glibc (macOS, musl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def free() -> int:
    """Give back the memory of models the caller has ``del``-ed; returns the bytes still in use.

    ``del model`` alone is not enough: a model loaded with a device map carries a reference cycle (accelerate keeps
    ``model._original_forward``, a method bound to the model), which only the garbage collector breaks. So: collect
    garbage, return PyTorch's cached CUDA blocks to the driver, and freed heap to the OS. The result is
    ``torch.cuda.memory_allocated()`` on a GPU, the process's resident memory otherwise.
    """
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        return torch.cuda.memory_allocated()
    release_free_heap()
    return psutil.Process().memory_info().rss


def tensor_bytes(model: torch.nn.Module) -> int:
    """Bytes held by a model's parameters and buffers (its weights in memory)."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)
