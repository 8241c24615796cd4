"""ftlab.memory: a block's peak is measured from its own start, not the process's history."""

import torch

from ftlab import memory


def test_peak_of_a_block_sees_a_temporary_allocation():
    with memory.measure_peak("cpu") as peak:
        block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB, touched
        del block
    assert peak.device == "cpu"
    assert 60 <= peak.delta_mib <= 90  # measured: ~64 MiB


def test_earlier_peaks_do_not_count():
    big = torch.ones(128 * 1024 * 1024 // 4)
    del big
    with memory.measure_peak("cpu") as peak:
        small = torch.ones(8 * 1024 * 1024 // 4)
        del small
    assert peak.delta_mib < 40  # would be ~128 if the earlier peak leaked in


def test_tensor_bytes_counts_parameters_and_buffers():
    layer = torch.nn.BatchNorm1d(10)  # 20 parameters + running mean/var (20) + a counter (1 int64)
    assert memory.tensor_bytes(layer) == 40 * 4 + 8
