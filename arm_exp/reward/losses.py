"""Reward-model losses: preference losses on triplets (ARMAP's) and pointwise losses on values.

Every preference loss takes ``r_pos`` of shape [B], ``r_neg`` of shape [B, K] and a boolean
``mask`` [B, K] (False where an example has fewer than K negatives) and returns a scalar.
Pairwise losses average over the valid (positive, negative) pairs; ``listwise`` uses all of an
example's negatives at once. ``negatives_per_example`` tells the data module how many negatives
to group with each positive.

The process-reward losses (beyond ARMAP) learn from ``values.jsonl`` (``synthesis=mc_values``:
trajectory prefixes with the Monte Carlo value of their last step, in [0, 1]) instead: they
declare ``learns_from = "values"`` (a preference loss learns from triplets, the default) and
take ``scores`` [B] (the model's raw output, a logit) and ``labels`` [B].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _pairs(r_pos: torch.Tensor, r_neg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """r_pos - r_neg for the valid pairs, flattened."""
    diff = r_pos.unsqueeze(1) - r_neg
    return diff[mask]


class BradleyTerryLoss(nn.Module):
    """ARMAP's loss: ``-log sigmoid(r+ - r-)`` plus ``center_coef * |r+ + r-|``.

    The centering term (1e-3 in ARMAP) keeps rewards near zero so thresholds stay meaningful.
    ARMAP computes ``|mean(r+ + r-)|`` on a per-device batch of one pair, so each pair is
    centred on its own and the terms are averaged (``center_per_pair``, the default);
    ``center_per_pair=False`` takes ``|mean(r+ + r-)|`` over the whole batch (ours before: a
    batch whose pairs sit on both sides of zero pays nothing).
    """

    negatives_per_example = 1

    def __init__(self, center_coef: float = 1e-3, center_per_pair: bool = True) -> None:
        super().__init__()
        self.center_coef = center_coef
        self.center_per_pair = center_per_pair

    def forward(self, r_pos: torch.Tensor, r_neg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        diff = _pairs(r_pos, r_neg, mask)
        loss = -F.logsigmoid(diff).mean()
        if self.center_coef:
            pos = r_pos.unsqueeze(1).expand_as(r_neg)[mask]
            sums = pos + r_neg[mask]
            center = sums.abs().mean() if self.center_per_pair else sums.mean().abs()
            loss = loss + self.center_coef * center
        return loss


class MarginLoss(nn.Module):
    """Bradley-Terry with a margin: ``-log sigmoid(r+ - r- - margin)`` (Llama 2's RM loss)."""

    negatives_per_example = 1

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, r_pos: torch.Tensor, r_neg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return -F.logsigmoid(_pairs(r_pos, r_neg, mask) - self.margin).mean()


class HingeLoss(nn.Module):
    """Margin ranking: ``max(0, margin - (r+ - r-))``."""

    negatives_per_example = 1

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, r_pos: torch.Tensor, r_neg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.relu(self.margin - _pairs(r_pos, r_neg, mask)).mean()


class ListwiseLoss(nn.Module):
    """One positive against its k negatives: cross-entropy of a softmax with the positive first.

    ``-log( exp(r+/t) / (exp(r+/t) + sum_k exp(r-_k/t)) )``, masked negatives excluded.
    """

    def __init__(self, temperature: float = 1.0, negatives_per_example: int = 4) -> None:
        super().__init__()
        self.temperature = temperature
        self.negatives_per_example = negatives_per_example

    def forward(self, r_pos: torch.Tensor, r_neg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = torch.cat([r_pos.unsqueeze(1), r_neg.masked_fill(~mask, float("-inf"))], dim=1)
        logits = logits / self.temperature
        target = torch.zeros(len(r_pos), dtype=torch.long, device=r_pos.device)
        return F.cross_entropy(logits, target)


class PRMBCELoss(nn.Module):
    """Process reward model: binary cross-entropy of the score (a logit) against the soft label,
    the prefix's Monte Carlo value: ``-(v log sigmoid(s) + (1 - v) log(1 - sigmoid(s)))``,
    averaged; minimized at ``sigmoid(s) = v``."""

    learns_from = "values"

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype))


class PRMMSELoss(nn.Module):
    """Process reward model: squared error of ``sigmoid(score)`` against the Monte Carlo value."""

    learns_from = "values"

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(torch.sigmoid(scores), labels.to(scores.dtype))
