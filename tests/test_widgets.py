"""The method knobs of Labs 04-08: each plot shows what the course's measured functions say for the knob's value,
and moving a knob redraws it (tests/test_browser.py drives one in a real browser)."""

import math

import matplotlib
import pytest
import torch

from ftlab import losses, quantization, widgets

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


def line(fig, label: str):
    (found,) = [artist for ax in fig.axes for artist in ax.lines if artist.get_label() == label]
    return found


def test_dpo_plot_is_the_dpo_loss():
    fig = widgets.dpo_figure(0.5, margins=[-2.0, 4.0])
    curve = line(fig, "β = 0.5")
    m, y = curve.get_xdata(), curve.get_ydata()
    i = int(abs(m - 3.0).argmin())
    one_pair = losses.dpo_loss(torch.tensor([float(m[i])]), torch.zeros(1), torch.zeros(1), torch.zeros(1), 0.5)
    assert y[i] == pytest.approx(one_pair.item())
    assert "mean loss of the batch" in fig.get_suptitle()


def test_simpo_plot_marks_the_target_gap():
    fig = widgets.simpo_figure(2.0, 1.0, gaps=[0.1, 0.9])
    target = line(fig, "target gap γ/β = 0.50")
    assert target.get_xdata()[0] == pytest.approx(0.5)
    assert "50% of the batch still below the target" in fig.axes[0].get_title()


def test_orpo_plot_splits_the_loss_into_sft_and_penalty():
    fig = widgets.orpo_figure(1.0, nll=2.0, log_odds_ratio=0.0)
    star = line(fig, "the last logged batch, at its mean r")
    assert star.get_ydata()[0] == pytest.approx(2.0 + math.log(2))  # −λ·log σ(0) = λ·log 2


def test_neftune_plot_finds_where_noise_equals_signal():
    fig = widgets.neftune_figure(alpha=5.0, dim=128, embedding_size=0.05)
    assert "shorter than 78 tokens" in fig.axes[0].get_title()  # 5² / (0.05² · 128) = 78.1


@pytest.mark.parametrize(("make", "knob"), [
    (lambda: widgets.nf4_explorer(torch.randn(64, 128)), 0),
    (lambda: widgets.neftune_explorer(dim=128, embedding_size=0.05), 0),
    (lambda: widgets.dpo_beta_explorer([1.0, -1.0]), 0),
    (lambda: widgets.simpo_gamma_explorer([0.2, 0.4]), 1),
    (lambda: widgets.orpo_lambda_explorer(nll=1.5, log_odds_ratio=0.3), 0),
], ids=["nf4", "neftune", "dpo", "simpo", "orpo"])
def test_moving_a_knob_redraws_the_plot(monkeypatch, make, knob):
    drawn = []
    def record(output, figure):
        drawn.append(figure.get_suptitle() + " ".join(ax.get_title() for ax in figure.axes))

    monkeypatch.setattr(widgets, "_plot_in", record)
    box = make()
    assert len(drawn) == 1  # drawn once when shown
    control = box.children[knob]
    options = getattr(control, "options", None)
    control.value = options[-1] if options else control.max
    assert len(drawn) == 2 and drawn[1] != drawn[0]
