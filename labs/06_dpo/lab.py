"""Lab 06's own pieces — its exercise checkers, its knob and its outcome thresholds per profile (``THRESHOLDS``).

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

import ipywidgets as widgets
import torch

from ftlab import losses
from ftlab.checks import Feedback, code_checker, preference_cases, scalar_check, softplus
from ftlab.outcomes import Expectation, margin_rise
from ftlab.widgets import knobs


def _mean_dpo_loss(margins: list[float], beta: float) -> float:
    """Mean of −log σ(β·m) over log-ratio margins m (the DPO loss of a batch)."""
    return sum(softplus(-beta * m) for m in margins) / len(margins)


def check_dpo_beta(prediction: str, margins, beta: float, new_beta: float) -> Feedback:
    """Check a predicted direction ("higher"/"lower") of the DPO loss when β changes, on fixed log-ratio margins
    ``(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))`` of a batch."""
    margins = [float(m) for m in margins]
    prediction = prediction.strip().lower() if isinstance(prediction, str) else prediction
    if prediction not in ("higher", "lower"):
        return Feedback(False, 'predict with one word: "higher" or "lower"')
    old, new = _mean_dpo_loss(margins, beta), _mean_dpo_loss(margins, new_beta)
    truth = "higher" if new > old else "lower"
    won = sum(m > 0 for m in margins)
    detail = (f"loss {old:.4f} at β={beta:g} → {new:.4f} at β={new_beta:g}; {won} of {len(margins)} pairs have a "
              "positive margin")
    if prediction == truth:
        return Feedback(True, f"{truth}: {detail}. β scales the margin inside the sigmoid, so pairs already won look "
                              "more won and pairs lost are punished harder; the batch's mix decides.")
    return Feedback(False, f"it gets {truth}: {detail}. Hint: −log σ(β·m) falls as β grows when m > 0 and rises "
                           "when m < 0.")


@code_checker
def check_dpo_loss(dpo_loss) -> Feedback:
    """Lab 06: ``dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)`` from summed
    log-probabilities must equal :func:`ftlab.losses.dpo_loss` (checked against TRL's in the lab): the mean over
    pairs of −log σ(β·margin); a margin of ±1000 must not overflow."""
    extreme = [torch.tensor([-1.0, -2000.0], dtype=torch.float64), torch.tensor([-2000.0, -1.0], dtype=torch.float64),
               torch.tensor([-5.0, -5.0], dtype=torch.float64), torch.tensor([-5.0, -5.0], dtype=torch.float64)]
    cases = [(*preference_cases(), 0.1), (*preference_cases(), 0.5), (*extreme, 1.0)]

    def mistakes(pc, pr, rc, rr, beta):
        margin = (pc - rc) - (pr - rr)
        return [(-torch.nn.functional.logsigmoid(-beta * margin).mean(), "the sign: the loss falls as the chosen "
                 "answer gains on the rejected one, so it is −log σ(+β·margin)"),
                (-torch.nn.functional.logsigmoid(beta * (pc - pr)).mean(), "the reference is missing: the margin "
                 "is (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))"),
                (-torch.nn.functional.logsigmoid(margin).mean(), "β multiplies the margin inside the sigmoid"),
                (-torch.sigmoid(beta * margin).mean(), "take the log of the sigmoid: −log σ(β·margin)"),
                (-torch.nn.functional.logsigmoid(beta * margin), "average over the pairs: the loss is one number")]

    return scalar_check(dpo_loss, "dpo_loss", cases, losses.dpo_loss, mistakes,
                         "mean over pairs of −log σ(β·((log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))))",
                         "equal to ftlab.losses.dpo_loss, and so to TRL's, on all 3 batches, the one with "
                         "a margin of ±2000 included.")


def dpo_figure(beta: float, margins=None):
    """DPO's loss −log σ(β·m) and its gradient's weight β·σ(−β·m) against the margin m; ``margins`` of a real batch
    as ticks, with their mean loss."""
    import matplotlib.pyplot as plt
    import torch

    m = torch.linspace(-30, 30, 301, dtype=torch.float64)
    fig, (loss_ax, weight_ax) = plt.subplots(1, 2, figsize=(9, 3))
    loss_ax.plot(m, -torch.nn.functional.logsigmoid(beta * m), label=f"β = {beta:.3g}")
    weight_ax.plot(m, beta * torch.sigmoid(-beta * m))
    title = f"β = {beta:.3g}"
    if margins is not None and len(margins):
        batch = torch.tensor(list(margins), dtype=torch.float64)
        loss_ax.plot(batch, -torch.nn.functional.logsigmoid(beta * batch), "k|", markersize=12,
                     label="this batch's pairs")
        title += f": mean loss of the batch {(-torch.nn.functional.logsigmoid(beta * batch)).mean():.3f}"
    loss_ax.set(xlabel="margin m (nats)", ylabel="−log σ(β·m)", title="loss")
    weight_ax.set(xlabel="margin m (nats)", ylabel="β·σ(−β·m)", title="how hard a pair pushes (gradient weight)")
    loss_ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def dpo_beta_explorer(margins=None) -> widgets.VBox:
    """Lab 06: β -> DPO's loss and gradient weight against the margin (and on a real batch's margins)."""
    beta = widgets.FloatLogSlider(value=0.1, base=10, min=-2, max=0, step=0.1, description="β")
    return knobs([beta], lambda: dpo_figure(beta.value, margins))


THRESHOLDS = {  # per profile; the GPU profiles report only
    "toy": {
        "margin_gain": margin_rise("DPO", at_least=0.3, margin=0.2),
        "abstention_gap": Expectation(
            "nats by which the SFT model prefers its invented answer to 'I don't know'",
            at_least=50, margin=10),
    },
    "cpu": {
        "margin_gain": margin_rise("DPO", at_least=1.0, margin=0.5),
        "abstention_gap": Expectation(
            "nats by which the SFT model prefers its invented answer to 'I don't know'",
            at_least=30, margin=10),
    },
}
