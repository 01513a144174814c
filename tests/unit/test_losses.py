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


def test_bradley_terry_centering_penalises_the_magnitude_of_a_negative_mean():
    # Rewards that drift below zero are pulled back up as hard as ones that drift above: the
    # term is |mean(r+ + r-)|, never the signed mean (which would reward drifting down).
    r_pos, r_neg = torch.tensor([-2.0, -4.0]), torch.tensor([[-3.0], [-5.0]])
    mask = torch.ones(2, 1, dtype=torch.bool)
    bce = -(math.log(_sig(1.0)) + math.log(_sig(1.0))) / 2
    got = BradleyTerryLoss(center_coef=0.5)(r_pos, r_neg, mask)
    assert got.item() == pytest.approx(bce + 0.5 * abs((-5.0 - 9.0) / 2), rel=1e-6)
    shifted = BradleyTerryLoss(center_coef=0.5, center_per_pair=False)
    # centred over the batch: mean(r+ + r-) = 0
    assert shifted(r_pos + 3.5, r_neg + 3.5, mask).item() == pytest.approx(bce, rel=1e-6)


def test_bradley_terry_centres_each_pair_as_armaps_batches_of_one():
    """ARMAP's per-device batch is one pair: ``|mean(r+ + r-)|`` is each pair's ``|r+ + r-|``,
    averaged over the accumulated batch. Pairs at +2 and -2 cancel only in a batch mean
    (fidelity row 2)."""
    r_pos, r_neg = torch.tensor([1.5, -0.5]), torch.tensor([[0.5], [-1.5]])
    mask = torch.ones(2, 1, dtype=torch.bool)
    bce = -(math.log(_sig(1.0)) + math.log(_sig(1.0))) / 2
    assert BradleyTerryLoss().center_per_pair
    got = BradleyTerryLoss(center_coef=0.5)(r_pos, r_neg, mask)
    assert got.item() == pytest.approx(bce + 0.5 * (2.0 + 2.0) / 2, rel=1e-6)
    batch = BradleyTerryLoss(center_coef=0.5, center_per_pair=False)(r_pos, r_neg, mask)
    assert batch.item() == pytest.approx(bce, rel=1e-6)


def test_bradley_terry_default_is_armaps_centering_coefficient():
    assert BradleyTerryLoss().center_coef == 1e-3
    assert BradleyTerryLoss()(R_POS, R_NEG, MASK).item() == pytest.approx(
        BradleyTerryLoss(center_coef=1e-3)(R_POS, R_NEG, MASK).item(), rel=1e-9
    )


def test_bradley_terry_without_centering_is_plain_bce():
    got = BradleyTerryLoss(center_coef=0)(R_POS, R_NEG, MASK)
    assert got.item() == pytest.approx(-sum(math.log(_sig(d)) for d in DIFFS) / 3, rel=1e-6)


def test_margin_loss():
    got = MarginLoss(margin=1.0)(R_POS, R_NEG, MASK)
    assert got.item() == pytest.approx(-sum(math.log(_sig(d - 1.0)) for d in DIFFS) / 3, rel=1e-6)


def test_hinge_loss():
    got = HingeLoss(margin=1.0)(R_POS, R_NEG, MASK)
    assert got.item() == pytest.approx(sum(max(0.0, 1.0 - d) for d in DIFFS) / 3, rel=1e-6)


def test_defaults_and_negatives_per_example():
    assert MarginLoss().margin == 1.0 and HingeLoss().margin == 1.0
    assert ListwiseLoss().temperature == 1.0 and ListwiseLoss().negatives_per_example == 4
    assert ListwiseLoss(negatives_per_example=7).negatives_per_example == 7
    for pairwise in (BradleyTerryLoss, MarginLoss, HingeLoss):
        assert pairwise.negatives_per_example == 1
    # the defaults are the documented values, not just stored ones
    assert MarginLoss()(R_POS, R_NEG, MASK).item() == pytest.approx(
        -sum(math.log(_sig(d - 1.0)) for d in DIFFS) / 3, rel=1e-6
    )
    assert HingeLoss()(R_POS, R_NEG, MASK).item() == pytest.approx(
        sum(max(0.0, 1.0 - d) for d in DIFFS) / 3, rel=1e-6
    )


def test_margin_and_hinge_use_their_margin():
    got = MarginLoss(margin=0.25)(R_POS, R_NEG, MASK)
    assert got.item() == pytest.approx(-sum(math.log(_sig(d - 0.25)) for d in DIFFS) / 3, rel=1e-6)
    got = HingeLoss(margin=2.0)(R_POS, R_NEG, MASK)
    assert got.item() == pytest.approx(sum(max(0.0, 2.0 - d) for d in DIFFS) / 3, rel=1e-6)


def test_listwise_temperature_divides_every_logit():
    got = ListwiseLoss(temperature=0.5)(R_POS, R_NEG, MASK)
    row1 = -math.log(math.exp(4) / (math.exp(4) + math.exp(2) + math.exp(-2)))
    row2 = -math.log(math.exp(0) / (math.exp(0) + math.exp(1)))
    assert got.item() == pytest.approx((row1 + row2) / 2, rel=1e-6)
    default = ListwiseLoss()(R_POS, R_NEG, MASK)
    assert default.item() == pytest.approx(ListwiseLoss(temperature=1.0)(R_POS, R_NEG, MASK).item())


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


def test_listwise_target_lives_on_the_inputs_device():
    # On the meta device (shapes only), a target built on the default device would not match.
    r_pos, r_neg = torch.zeros(2, device="meta"), torch.zeros(2, 3, device="meta")
    mask = torch.ones(2, 3, dtype=torch.bool, device="meta")
    out = ListwiseLoss()(r_pos, r_neg, mask)
    assert out.device.type == "meta" and out.shape == ()


def test_prm_bce_against_soft_labels_by_hand():
    from arm_exp.reward.losses import PRMBCELoss

    scores = torch.tensor([0.0, 2.0, -1.0], requires_grad=True)
    labels = torch.tensor([0.25, 1.0, 0.0])
    expected = (
        -(
            (0.25 * math.log(0.5) + 0.75 * math.log(0.5))
            + math.log(_sig(2.0))
            + math.log(1 - _sig(-1.0))
        )
        / 3
    )
    loss = PRMBCELoss()(scores, labels)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # d/ds = (sigmoid(s) - v) / B: up where the score is below its label, down where above.
    want = [(_sig(s) - v) / 3 for s, v in zip([0.0, 2.0, -1.0], [0.25, 1.0, 0.0], strict=True)]
    assert scores.grad.tolist() == pytest.approx(want, rel=1e-5)
    assert scores.grad[0] > 0 and scores.grad[1] < 0 and scores.grad[2] > 0
    assert PRMBCELoss.learns_from == "values"


def test_prm_bce_is_least_at_the_label():
    from arm_exp.reward.losses import PRMBCELoss

    label = torch.tensor([0.3])
    at = PRMBCELoss()(torch.logit(label), label)
    for s in (-2.0, 0.0, 1.0):
        assert PRMBCELoss()(torch.tensor([s]), label) > at


def test_prm_mse_by_hand():
    from arm_exp.reward.losses import PRMMSELoss

    scores = torch.tensor([0.0, 1.0], requires_grad=True)
    labels = torch.tensor([1.0, 0.5])
    expected = ((0.5 - 1.0) ** 2 + (_sig(1.0) - 0.5) ** 2) / 2
    loss = PRMMSELoss()(scores, labels)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert scores.grad[0] < 0 and scores.grad[1] > 0
    assert PRMMSELoss.learns_from == "values"


def test_preference_losses_learn_from_triplets():
    from arm_exp.stages.train import RECORDS

    for cls in (BradleyTerryLoss, HingeLoss, ListwiseLoss, MarginLoss):
        assert getattr(cls, "learns_from", "triplets") == "triplets"
    assert RECORDS == {"triplets": "triplets.jsonl", "values": "values.jsonl"}


def test_prm_losses_take_exact_integer_labels():
    from arm_exp.reward.losses import PRMBCELoss, PRMMSELoss

    scores = torch.tensor([0.0, 0.0])
    labels = torch.tensor([1, 0])  # exact outcomes, as integers
    assert PRMBCELoss()(scores, labels).item() == pytest.approx(math.log(2))
    assert PRMMSELoss()(scores, labels).item() == pytest.approx(0.25)


def test_prm_losses_are_in_the_scores_dtype_whatever_the_labels():
    """Labels are cast to the scores' dtype: float64 labels (values read back from JSON by
    another loader) do not turn the loss, and its gradients, into float64."""
    from arm_exp.reward.losses import PRMBCELoss, PRMMSELoss

    scores = torch.tensor([0.3, -0.2])
    labels = torch.tensor([0.25, 1.0], dtype=torch.float64)
    assert PRMMSELoss()(scores, labels).dtype == torch.float32
    assert PRMBCELoss()(scores, labels).dtype == torch.float32
