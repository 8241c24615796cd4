"""Lab 07's own pieces — its exercise checkers, its knob and its outcome thresholds per profile (``THRESHOLDS``).

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

import ipywidgets as widgets
import torch

from ftlab import losses
from ftlab.checks import Feedback, as_number, code_checker, matches_digits, preference_cases, scalar_check, softplus
from ftlab.outcomes import margin_rise
from ftlab.widgets import knobs


def check_simpo_gamma(answer, chosen_avg, rejected_avg, beta: float, gamma: float) -> Feedback:
    """Check a hand-computed SimPO loss ``mean(−log σ(β·(avg_w − avg_l) − γ))`` for the given γ, to three
    significant figures."""
    value = as_number(answer)
    if value is None:
        return Feedback(False, f"give a number, not {answer!r}")
    answer = value
    gaps = [float(c) - float(r) for c, r in zip(chosen_avg, rejected_avg, strict=True)]

    def loss(g: float, shift: float = 1.0) -> float:
        return sum(softplus(-(beta * d - g * shift)) for d in gaps) / len(gaps)

    expected = loss(gamma)
    if matches_digits(answer, expected, digits=3):
        return Feedback(True, f"{expected:.4f}: a larger target margin γ makes every pair harder to count as won.")
    for wrong, hint in [(loss(0.0), "you left γ out: SimPO subtracts it inside the sigmoid"),
                        (loss(gamma, -1.0), "γ is subtracted, not added: the chosen answer must win by γ"),
                        (loss(gamma / beta), "you subtracted γ/β after multiplying by β: β·(Δ − γ/β) is β·Δ − γ")]:
        if matches_digits(answer, wrong, digits=3):
            return Feedback(False, f"{answer:.4f}: {hint}")
    return Feedback(False, f"{answer:.4f} is not the SimPO loss here; use the per-token averages, "
                           "−log σ(β·(avg_w − avg_l) − γ), and average over the pairs")


@code_checker
def check_simpo_loss(simpo_loss) -> Feedback:
    """Lab 07: ``simpo_loss(chosen_logps, chosen_lengths, rejected_logps, rejected_lengths, beta, gamma)`` from
    summed log-probabilities and answer lengths must equal :func:`ftlab.losses.simpo_loss` on the per-token
    averages: the mean of −log σ(β·(avg_w − avg_l) − γ)."""
    chosen, _, rejected, _ = preference_cases()
    lengths_w, lengths_l = torch.tensor([4.0, 9.0, 2.0, 12.0]), torch.tensor([11.0, 3.0, 6.0, 5.0])
    cases = [(chosen, lengths_w, rejected, lengths_l, 2.0, 0.5), (chosen, lengths_w, rejected, lengths_l, 2.5, 1.4)]

    def reference(cw, lw, cl, ll, beta, gamma):
        return losses.simpo_loss(cw / lw, cl / ll, beta, gamma)

    def mistakes(cw, lw, cl, ll, beta, gamma):
        gap = cw / lw - cl / ll
        return [(losses.simpo_loss(cw, cl, beta, gamma), "divide each summed log-probability by its answer's "
                 "length: SimPO's reward is the average per token"),
                (-torch.nn.functional.logsigmoid(beta * gap + gamma).mean(), "γ is subtracted: the chosen answer "
                 "must win by the margin γ"),
                (-torch.nn.functional.logsigmoid(beta * (gap - gamma)).mean(), "γ is subtracted after β scales the "
                 "gap: β·Δ − γ, not β·(Δ − γ)"),
                (-torch.nn.functional.logsigmoid(beta * gap).mean(), "the target margin γ is missing")]

    return scalar_check(simpo_loss, "simpo_loss", cases, reference, mistakes,
                         "mean of −log σ(β·(sum_w/len_w − sum_l/len_l) − γ)",
                         "equal to ftlab.losses.simpo_loss, and so to TRL's CPO trainer with "
                         "loss_type='simpo': no reference model, length-normalised rewards, margin γ.")


def simpo_figure(beta: float, gamma: float, gaps=None):
    """SimPO's loss −log σ(β·Δ − γ) against the per-token gap Δ; a pair counts as won once Δ > γ/β."""
    import matplotlib.pyplot as plt
    import torch

    delta = torch.linspace(-2, 2, 201, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(delta, -torch.nn.functional.logsigmoid(beta * delta - gamma), label=f"β = {beta:g}, γ = {gamma:g}")
    ax.plot(delta, -torch.nn.functional.logsigmoid(beta * delta), ls=":", color="grey", label="γ = 0")
    ax.axvline(gamma / beta, color="tab:red", lw=0.8, label=f"target gap γ/β = {gamma / beta:.2f}")
    title = f"β = {beta:g}, γ = {gamma:g}"
    if gaps is not None and len(gaps):
        batch = torch.tensor(list(gaps), dtype=torch.float64)
        ax.plot(batch, -torch.nn.functional.logsigmoid(beta * batch - gamma), "k|", markersize=12,
                label="this batch's pairs")
        title += f": {(batch < gamma / beta).float().mean():.0%} of the batch still below the target"
    ax.set(xlabel="Δ = avg log-prob per token, chosen − rejected", ylabel="loss", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def simpo_gamma_explorer(gaps=None, beta: float = 2.0) -> widgets.VBox:
    """Lab 07: β and γ -> SimPO's loss against the per-token gap, and how much of a real batch is still 'not won'."""
    beta_knob = widgets.FloatSlider(value=beta, min=0.5, max=5.0, step=0.5, description="β")
    gamma = widgets.FloatSlider(value=0.5, min=0.0, max=3.0, step=0.1, description="γ")
    return knobs([beta_knob, gamma], lambda: simpo_figure(beta_knob.value, gamma.value, gaps))


_BOTH = {  # the same bound on the toy and on SmolLM2
    "margin_gain": margin_rise("SimPO", at_least=0.3, margin=0.2),
}
THRESHOLDS = {  # per profile; the GPU profiles report only
    "toy": _BOTH,
    "cpu": _BOTH,
}
