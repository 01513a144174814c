"""A process reward model end to end on Game of 24: synthesize synthesis=mc_values ->
values.jsonl -> train loss=prm_bce (real MiniLM) -> the unchanged scorer on prefixes; and the
two kinds of records refused where the other is expected."""

from __future__ import annotations

import json
import math

import pytest

from arm_exp.artifacts import JsonlError
from arm_exp.errors import ConfigError
from arm_exp.reward.data import load_triplets, load_values
from arm_exp.reward.scorer import RewardScorer
from arm_exp.stages import synthesize, train
from arm_exp.types import ValueLabel
from tests.conftest import run_stage
from tests.integration.test_reward import FAST


@pytest.fixture(scope="module")
def values_game24(tmp_path_factory, explored_game24):
    out = tmp_path_factory.mktemp("mc") / "run"
    metrics = run_stage(
        synthesize, "synthesize", [f"input_dir={explored_game24}", "synthesis=mc_values"], out
    )
    return out, metrics


@pytest.fixture(scope="module")
def prm(tmp_path_factory, values_game24):
    out = tmp_path_factory.mktemp("prm") / "run"
    metrics = run_stage(
        train, "train", [f"input_dir={values_game24[0]}", "loss=prm_bce", *FAST], out
    )
    return out, metrics


def _labels(run_dir) -> list[ValueLabel]:
    lines = (run_dir / "values.jsonl").read_text().splitlines()
    return [ValueLabel.from_dict(json.loads(x)) for x in lines]


def test_mc_values_stage_writes_labels_and_their_share(values_game24):
    run_dir, m = values_game24
    labels = _labels(run_dir)
    assert not (run_dir / "triplets.jsonl").exists()
    assert m["synth/n_values"] == len(labels) > 0
    nonzero = sum(v.value > 0 for v in labels)
    assert m["synth/nonzero_share"] == pytest.approx(nonzero / len(labels))
    assert 0 < nonzero < len(labels)
    assert m["synth/mean_value"] == pytest.approx(sum(v.value for v in labels) / len(labels))
    for v in labels:
        assert v.value * v.meta["continuations"] == v.meta["successes"] or v.meta["exact"]
        assert len(v.prefix.steps) == v.meta["prefix_steps"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["counts"]["records"] == "values"
    assert manifest["config"]["synthesis"]["policy"]["_target_"].endswith("RandomPolicy")


def test_prm_trains_and_scores_prefixes(prm, values_game24):
    run_dir, m = prm
    assert m["rm/val/loss_last"] < m["rm/val/loss_init"]  # the loss falls
    assert 0.0 <= m["rm/val/pair_acc"] <= 1.0  # concordance: few validation pairs at this size
    assert m["rm/data/train_examples"] > 0 and "rm/data/train_pairs" not in m
    labels = _labels(values_game24[0])
    scorer = RewardScorer.from_checkpoint(run_dir)
    prefixes = [v.prefix for v in labels]
    scores = scorer.score([v.intent for v in labels], prefixes)
    assert len(scores) == len(labels) and all(s == s for s in scores)
    # The scores are logits fitted to the values: from 0.5 at the start, sigmoid(score) moved to
    # the labels' base rate (a few per cent non-zero).
    probs = [1 / (1 + math.exp(-s)) for s in scores]
    mean_value = sum(v.value for v in labels) / len(labels)
    assert abs(sum(probs) / len(probs) - mean_value) < 0.1
    assert len(set(scores)) > 1
    lineage = torch_lineage(run_dir)
    assert lineage["loss"] == "prm_bce"


def torch_lineage(run_dir) -> dict:
    from arm_exp.artifacts import checkpoint_lineage

    return checkpoint_lineage(run_dir / "checkpoints" / "best.ckpt")


def test_train_refuses_the_other_kind_of_records(tmp_path, values_game24, triplets_game24):
    with pytest.raises(ConfigError, match="holds values.jsonl but loss=bradley_terry learns from"):
        run_stage(train, "train", [f"input_dir={values_game24[0]}"], tmp_path / "a")
    with pytest.raises(ConfigError, match="holds triplets.jsonl but loss=prm_bce learns from"):
        run_stage(train, "train", [f"input_dir={triplets_game24}", "loss=prm_bce"], tmp_path / "b")


def test_loaders_refuse_the_other_kind_in_one_line(values_game24, triplets_game24):
    with pytest.raises(JsonlError, match=r"values.jsonl:1: holds values .* learns from triplets"):
        load_triplets(values_game24[0] / "values.jsonl")
    with pytest.raises(JsonlError, match=r"triplets.jsonl:1: holds triplets .* learns from values"):
        load_values(triplets_game24 / "triplets.jsonl")
    assert load_values(values_game24[0] / "values.jsonl")


def test_load_values_refuses_a_value_outside_the_unit_interval(tmp_path, values_game24):
    line = json.loads((values_game24[0] / "values.jsonl").read_text().splitlines()[0])
    bad = tmp_path / "values.jsonl"
    bad.write_text(json.dumps({**line, "value": 1.5}) + "\n")
    with pytest.raises(JsonlError, match=r"values.jsonl:1: not a valid value label .*outside"):
        load_values(bad)
    stats: dict[str, int] = {}
    bad.write_text(json.dumps({**line, "value": 1.5}) + "\n" + json.dumps(line) + "\n")
    assert len(load_values(bad, skip_bad=True, stats=stats)) == 1
    assert stats["skipped_records"] == 1


def test_mc_values_synthesis_is_deterministic_and_resumable(explored_game24, tmp_path,
                                                            monkeypatch):  # fmt: skip
    from arm_exp.artifacts import load_manifest
    from arm_exp.synthesis.mc_values import MCValueSynthesizer

    over = [f"input_dir={explored_game24}", "synthesis=mc_values", "synthesis.batch_size=7",
            "synthesis.continuations=4"]  # fmt: skip
    run_stage(synthesize, "synthesize", over, tmp_path / "a")
    calls = {"n": 0}
    real = MCValueSynthesizer.synthesize

    def crash_after_three(self, batch):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt  # a preempted job
        return real(self, batch)

    monkeypatch.setattr(MCValueSynthesizer, "synthesize", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_stage(synthesize, "synthesize", over, tmp_path / "b")
    monkeypatch.setattr(MCValueSynthesizer, "synthesize", real)
    assert not load_manifest(tmp_path / "b")["complete"]
    run_stage(synthesize, "synthesize", over, tmp_path / "b")
    for name in ("values.jsonl", "synthesis_progress.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert load_manifest(tmp_path / "b")["counts"]["resumed_sources"] == 21
    # a rerun with the same config is the same run: reused, not recomputed
    again = run_stage(synthesize, "synthesize", over, tmp_path / "b")
    assert again == json.loads((tmp_path / "b" / "metrics.json").read_text())
