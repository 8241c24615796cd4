"""The knobs: NF4's measured round trip behind Lab 04's, and every lab's knob redraws its plot when moved
(tests/test_browser.py drives one in a real browser; each plot's content is tested in its lab's folder)."""


import matplotlib
import pytest
import torch

from ftlab import labs, quantization, widgets

matplotlib.use("Agg")


def test_nf4_roundtrip_measures_error_and_stored_bits():
    weight = torch.randn(192, 256, generator=torch.Generator().manual_seed(0))
    nf4 = {size: quantization.roundtrip(weight, size, "nf4", double_quant=False) for size in (32, 64, 512)}
    assert nf4[32].relative_error < nf4[64].relative_error < nf4[512].relative_error < 0.15  # smaller blocks: finer
    assert nf4[64].bits_per_weight == pytest.approx(4 + 32 / 64)  # 4-bit codes + one float32 scale per block
    double = quantization.roundtrip(weight, 64, "nf4", double_quant=True)
    assert 4 + 8 / 64 < double.bits_per_weight < 4 + 8 / 64 + 0.01  # scales in 8 bits (+ second-level scales)
    assert double.relative_error == pytest.approx(nf4[64].relative_error, rel=0.01)  # at almost no cost in error
    assert quantization.roundtrip(weight, 64, "fp4").relative_error > double.relative_error  # NF4 fits normal weights


def test_a_matrix_whose_rows_straddle_blocks_is_measured_as_a_gpu_measures_it():
    """bitsandbytes' CPU kernel mis-quantises 2-D rows that are not a multiple of the block: roundtrip flattens."""
    weight = torch.randn(1536, 576, generator=torch.Generator().manual_seed(0))
    assert quantization.roundtrip(weight, 128).relative_error == pytest.approx(
        quantization.roundtrip(weight.flatten(), 128).relative_error)


@pytest.mark.parametrize(("make", "knob"), [
    (lambda: labs.get("04").module().nf4_explorer(torch.randn(64, 128)), 0),
    (lambda: labs.get("05").module().neftune_explorer(dim=128, embedding_size=0.05), 0),
    (lambda: labs.get("06").module().dpo_beta_explorer([1.0, -1.0]), 0),
    (lambda: labs.get("07").module().simpo_gamma_explorer([0.2, 0.4]), 1),
    (lambda: labs.get("08").module().orpo_lambda_explorer(nll=1.5, log_odds_ratio=0.3), 0),
], ids=["nf4", "neftune", "dpo", "simpo", "orpo"])
def test_moving_a_knob_redraws_the_plot(monkeypatch, make, knob):
    drawn = []
    def record(output, figure):
        drawn.append(figure.get_suptitle() + " ".join(ax.get_title() for ax in figure.axes))

    monkeypatch.setattr(widgets, "plot_in", record)
    box = make()
    assert len(drawn) == 1  # drawn once when shown
    control = box.children[knob]
    options = getattr(control, "options", None)
    control.value = options[-1] if options else control.max
    assert len(drawn) == 2 and drawn[1] != drawn[0]
