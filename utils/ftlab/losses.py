"""The preference losses written out by hand, for teaching (Labs 06-09), on per-sequence log-probabilities.

* ``dpo_loss``, ``simpo_loss``, ``orpo_loss`` (with ``log_odds``) and ``kto_loss`` (with ``kto_reference_point``):
  each method's loss as its paper writes it.
* ``token_logps`` / ``completion_logps``: those log-probabilities from a model, by hand.

Only torch, as in ``ftlab.lora``: TRL's trainers are in ``ftlab.preference``. ``tests/test_preference.py`` checks
each loss against TRL's own on the same inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO: ``-log σ(β·[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))])``, averaged over pairs.

    Arguments are summed completion log-probabilities per pair under the trained policy π and the frozen
    reference π_ref; ``β·(log π − log π_ref)`` is the "implicit reward" TRL logs as ``rewards/chosen|rejected``.
    """
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def simpo_loss(chosen_avg: torch.Tensor, rejected_avg: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """SimPO: ``-log σ(β·(avg log π(y_w) − avg log π(y_l)) − γ)``, averaged over pairs.

    No reference model; ``avg`` is the mean log-probability per completion token (length-normalised), and the
    target margin γ asks the chosen answer to win by at least γ/β nats per token.
    """
    return -F.logsigmoid(beta * (chosen_avg - rejected_avg) - gamma).mean()


def log_odds(avg_logp: torch.Tensor) -> torch.Tensor:
    """``log(p / (1 − p))`` for ``p = exp(avg_logp)``, computed stably for log-probabilities below 0."""
    return avg_logp - torch.log(-torch.expm1(avg_logp))


def orpo_loss(chosen_avg: torch.Tensor, rejected_avg: torch.Tensor, chosen_nll: torch.Tensor,
              beta: float) -> torch.Tensor:
    """ORPO: ``NLL(chosen) − β·mean(log σ(log odds(y_w) − log odds(y_l)))``: SFT and preference in one loss.

    ``chosen_avg``/``rejected_avg``: mean token log-probabilities of the completions; ``chosen_nll``: the SFT
    cross-entropy on the chosen sequences; β is the paper's λ. No reference model.
    """
    return chosen_nll - beta * F.logsigmoid(log_odds(chosen_avg) - log_odds(rejected_avg)).mean()


def kto_reference_point(policy_mismatched: torch.Tensor, ref_mismatched: torch.Tensor) -> torch.Tensor:
    """KTO's reference point z₀: the mean log-ratio on mismatched prompt/answer pairs (a KL estimate), at least 0."""
    return (policy_mismatched - ref_mismatched).mean().clamp(min=0).detach()


def kto_loss(policy_logps: torch.Tensor, ref_logps: torch.Tensor, desirable: torch.Tensor, z0: torch.Tensor,
             beta: float, desirable_weight: float = 1.0, undesirable_weight: float = 1.0) -> torch.Tensor:
    """KTO: per example, ``1 − σ(β·(r − z₀))`` if desirable, ``1 − σ(β·(z₀ − r))`` if not, with
    ``r = log π(y) − log π_ref(y)``; weighted and averaged over the batch. No pairs needed, only a label each.
    """
    reward = policy_logps - ref_logps
    desirable = desirable.bool()
    losses = torch.cat([desirable_weight * (1 - torch.sigmoid(beta * (reward[desirable] - z0))),
                        undesirable_weight * (1 - torch.sigmoid(beta * (z0 - reward[~desirable])))])
    return losses.mean()


def token_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``log p(token t | tokens before t)`` at every position after the first: shape (batch, length − 1), float32."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits.float()
    return torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)


def completion_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_mask: torch.Tensor,
                     average: bool = False) -> torch.Tensor:
    """One number per sequence: the sum (or, ``average=True``, the mean) of its completion tokens' log-probs."""
    mask = completion_mask[:, 1:].float()
    total = (token_logps(model, input_ids, attention_mask) * mask).sum(-1)
    return total / mask.sum(-1) if average else total
