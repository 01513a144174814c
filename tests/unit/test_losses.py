"""Each loss against values computed by hand."""

import math

import pytest
import torch

from arm_exp.reward.losses import BradleyTerryLoss, HingeLoss, ListwiseLoss, MarginLoss


def _sig(x):
    return 1 / (1 + math.exp(-x))


R_POS = torch.tensor([2.0, 0.0])
R_NEG = torch.tensor([[1.0, -1.0], [0.5, 9.0]])
MASK = torch.tensor([[True, True], [True, False]])  # valid pairs: (2,1) (2,-1) (0,0.5)
DIFFS = [1.0, 3.0, -0.5]


def test_bradley_terry_with_centering():
    expected = -sum(math.log(_sig(d)) for d in DIFFS) / 3
    # centering: |mean over valid pairs of (r+ + r-)| = |(3 + 1 + 0.5) / 3|
    expected += 1e-3 * abs((3.0 + 1.0 + 0.5) / 3)
    got = BradleyTerryLoss(center_coef=1e-3)(R_POS, R_NEG, MASK)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_bradley_terry_without_centering_is_plain_bce():
    got = BradleyTerryLoss(center_coef=0)(R_POS, R_NEG, MASK)
    assert got.item() == pytest.approx(-sum(math.log(_sig(d)) for d in DIFFS) / 3, rel=1e-6)


def test_margin_loss():
    got = MarginLoss(margin=1.0)(R_POS, R_NEG, MASK)
    assert got.item() == pytest.approx(-sum(math.log(_sig(d - 1.0)) for d in DIFFS) / 3, rel=1e-6)


def test_hinge_loss():
    got = HingeLoss(margin=1.0)(R_POS, R_NEG, MASK)
    assert got.item() == pytest.approx(sum(max(0.0, 1.0 - d) for d in DIFFS) / 3, rel=1e-6)


def test_listwise_loss_ignores_masked_negatives():
    got = ListwiseLoss(temperature=1.0)(R_POS, R_NEG, MASK)
    row1 = -math.log(math.exp(2) / (math.exp(2) + math.exp(1) + math.exp(-1)))
    row2 = -math.log(math.exp(0) / (math.exp(0) + math.exp(0.5)))
    assert got.item() == pytest.approx((row1 + row2) / 2, rel=1e-6)


def test_losses_decrease_when_positive_wins_more():
    for loss in (BradleyTerryLoss(), MarginLoss(), HingeLoss(), ListwiseLoss()):
        worse = loss(torch.tensor([0.0]), torch.tensor([[0.0]]), torch.tensor([[True]]))
        better = loss(torch.tensor([3.0]), torch.tensor([[0.0]]), torch.tensor([[True]]))
        assert better < worse
