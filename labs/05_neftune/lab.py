"""Lab 05's own pieces — its exercise checkers, its knob and its outcome thresholds per profile (``THRESHOLDS``).

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

import ipywidgets as widgets
import torch

from ftlab.checks import Feedback, as_number, call_safely, code_checker, matches_digits
from ftlab.outcomes import Expectation
from ftlab.widgets import knobs


def check_neftune_scale(answer, alpha: float, seq_len: int, dim: int) -> Feedback:
    """Check the largest NEFTune perturbation per embedding value, alpha / sqrt(seq_len × dim), to two
    significant figures."""
    expected = alpha / (seq_len * dim) ** 0.5
    value = as_number(answer)
    if value is None:
        return Feedback(False, f"give a number, not {answer!r}")
    answer = value
    if matches_digits(answer, expected, digits=2):
        return Feedback(True, f"{expected:.4g}: each value moves by at most alpha / sqrt(L·d).")
    if abs(answer - alpha / seq_len**0.5) <= 0.01 * expected or abs(answer - alpha / dim**0.5) <= 0.01 * expected:
        return Feedback(False, "the square root covers both the sequence length L and the embedding width d")
    if abs(answer - alpha / (seq_len * dim)) <= 0.01 * expected:
        return Feedback(False, "divide by the square root of L·d, not by L·d itself")
    return Feedback(False, f"{answer:g} is not alpha / sqrt(L·d) for alpha={alpha}, L={seq_len}, d={dim}")


@code_checker
def check_neftune_noise(add_neftune_noise) -> Feedback:
    """Lab 05: ``add_neftune_noise(embeddings, alpha)`` on a (batch, L, d) tensor must add what transformers'
    NEFTune hook adds: uniform noise in ±alpha/sqrt(L·d), a fresh draw for every value."""
    generator = torch.Generator().manual_seed(0)
    for batch, seq_len, dim, alpha in [(4, 32, 64, 5.0), (2, 128, 16, 10.0)]:
        embeddings = torch.randn(batch, seq_len, dim, generator=generator)
        result, stop = call_safely(add_neftune_noise, "add_neftune_noise", embeddings, alpha)
        if stop is not None:
            return stop
        if not isinstance(result, torch.Tensor) or result.shape != embeddings.shape:
            return Feedback(False, f"return the noisy embeddings, a tensor of shape {tuple(embeddings.shape)}")
        noise, bound = (result - embeddings).to(torch.float64), alpha / (seq_len * dim) ** 0.5
        largest, spread = noise.abs().max().item(), noise.std().item()
        case = f"L={seq_len}, d={dim}, alpha={alpha:g} (bound {bound:.4f})"
        if largest == 0:
            return Feedback(False, f"{case}: nothing was added; add the noise to the embeddings")
        for wrong, hint in [(alpha / seq_len**0.5, "the square root covers L·d, not L alone"),
                            (alpha / dim**0.5, "the square root covers L·d, not d alone"),
                            (alpha / (seq_len * dim), "divide alpha by the square root of L·d, not by L·d")]:
            if 0.9 * wrong <= largest <= wrong * 1.001:
                return Feedback(False, f"{case}: your largest change is {largest:.4g}. Hint: {hint}")
        if largest > bound * 1.001:
            return Feedback(False, f"{case}: a change of {largest:.4g} is beyond the bound: NEFTune draws uniform "
                                   "noise (torch.rand or uniform_), not normal noise (torch.randn)")
        if abs(noise.mean().item()) > 0.2 * bound:
            return Feedback(False, f"{case}: the noise is not centred (mean {noise.mean().item():+.4g}): "
                                   "draw from [-bound, bound], e.g. (2·rand − 1)·bound, not rand·bound")
        if largest < 0.9 * bound or not 0.9 <= spread / (bound / 3**0.5) <= 1.1:
            return Feedback(False, f"{case}: the noise should fill [-bound, bound] evenly (largest {largest:.4g}, "
                                   f"std {spread:.4g}, uniform's std is bound/√3 = {bound / 3**0.5:.4g})")
    return Feedback(True, "uniform in ±alpha/sqrt(L·d), centred, a fresh draw per value: what transformers' "
                          "NEFTune hook adds to the embeddings in training mode.")


def neftune_figure(alpha: float, dim: int, embedding_size: float, lengths=(8, 32, 128, 512, 2048)):
    """NEFTune's bound alpha/sqrt(L·d) against the sequence length L, next to the model's typical embedding value."""
    import matplotlib.pyplot as plt
    import numpy as np

    lengths = np.array(lengths, dtype=float)
    bounds = alpha / np.sqrt(lengths * dim)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(lengths, bounds, "o-", label=f"bound alpha/sqrt(L·d), alpha={alpha:g}, d={dim}")
    ax.axhline(embedding_size, color="black", ls="--", label=f"typical |embedding value| ({embedding_size:.3g})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L (tokens)")
    ax.set_ylabel("largest change per value")
    ax.legend(fontsize=8)
    crossing = alpha**2 / (embedding_size**2 * dim)  # the L at which the bound equals the typical value
    ax.set_title(f"noise ≥ signal for sequences shorter than {crossing:,.0f} tokens")
    fig.tight_layout()
    return fig


def neftune_explorer(dim: int, embedding_size: float) -> widgets.VBox:
    """Lab 05: alpha and the embedding width d -> the noise bound against sequence length, relative to the model's
    own embedding values."""
    alpha = widgets.FloatSlider(value=5.0, min=0.0, max=20.0, step=1.0, description="alpha")
    width = widgets.SelectionSlider(options=sorted({dim, 128, 576, 2048, 4096}), value=dim, description="d")
    return knobs([alpha, width], lambda: neftune_figure(alpha.value, width.value, embedding_size))


THRESHOLDS = {  # per profile; the GPU profiles report only
    "toy": {
        "eval_loss_ratio": Expectation("NEFTune's mean eval loss over the baseline's", at_least=2, margin=0.2),
    },
    "cpu": {
        "eval_loss_ratio": Expectation(
            "NEFTune's mean eval loss over the baseline's: no rise on a real model",
            at_most=1.1, margin=0.03),
    },
}
