"""Synthesis on real explored Game-24 trajectories, both strategies."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from arm_exp.artifacts import ArtifactError, load_manifest
from arm_exp.envs.game24 import check_answer
from arm_exp.stages import synthesize
from arm_exp.synthesis.game24 import KINDS, _answer
from arm_exp.synthesis.rule import RuleSynthesizer
from arm_exp.types import Triplet
from tests.conftest import run_stage


def _triplets(run_dir):
    return [
        Triplet.from_dict(json.loads(x))
        for x in (run_dir / "triplets.jsonl").read_text().splitlines()
    ]


def test_rule_triplets_are_validated_and_cover_the_taxonomy(triplets_game24):
    triplets = _triplets(triplets_game24)
    assert len(triplets) > 100
    kinds = {t.meta["negative_kind"] for t in triplets}
    assert kinds == set(KINDS) | {"natural"}
    for t in triplets:
        nums, target = t.positive.meta["numbers"], t.positive.meta["target"]
        assert t.intent == t.positive.intent and f"obtain {target}." in t.intent
        assert check_answer(nums, _answer(t.positive), Fraction(target))
        neg_answer = _answer(t.negative) or ""
        assert not check_answer(nums, neg_answer, Fraction(target))
    # Hindsight: most positives are for values other than 24.
    assert sum(t.positive.meta["hindsight"] for t in triplets) > len(triplets) / 2
    m = load_manifest(triplets_game24)
    assert m["complete"] and m["counts"]["triplets"] == len(triplets)
    assert sum(m["counts"]["kept"].values()) >= len(triplets)  # kept before de-duplication
    texts = {
        json.dumps(
            [t.intent, [s.action for s in t.positive.steps], [s.action for s in t.negative.steps]]
        )
        for t in triplets
    }
    assert len(texts) == len(triplets)  # de-duplicated


def test_rule_synthesis_is_deterministic_and_resumable(explored_game24, tmp_path, monkeypatch):
    over = [f"input_dir={explored_game24}", "synthesis=rule", "synthesis.batch_size=7"]
    run_stage(synthesize, "synthesize", over, tmp_path / "a")
    calls = {"n": 0}
    real = RuleSynthesizer.synthesize

    def crash_after_three(self, batch):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt  # a preempted job
        return real(self, batch)

    monkeypatch.setattr(RuleSynthesizer, "synthesize", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_stage(synthesize, "synthesize", over, tmp_path / "b")
    monkeypatch.setattr(RuleSynthesizer, "synthesize", real)
    assert not load_manifest(tmp_path / "b")["complete"]
    run_stage(synthesize, "synthesize", over, tmp_path / "b")
    for name in ("triplets.jsonl", "synthesis_progress.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert load_manifest(tmp_path / "b")["counts"]["resumed_sources"] == 21


def test_intent_target_24_keeps_only_solved(explored_game24, tmp_path):
    m = run_stage(
        synthesize,
        "synthesize",
        [f"input_dir={explored_game24}", "benchmark.synthesis_kit.intent_target=24"],
        tmp_path,
    )
    triplets = _triplets(tmp_path) if (tmp_path / "triplets.jsonl").read_text() else []
    assert all("obtain 24." in t.intent and not t.positive.meta["hindsight"] for t in triplets)
    assert m["synth/dropped/not_success"] > 0


def test_llm_strategy_with_embedded_model(explored_game24, tmp_path, smollm2):
    m = run_stage(
        synthesize,
        "synthesize",
        [
            f"input_dir={explored_game24}",
            "synthesis=llm",
            "limit=1",
            "synthesis.negatives_per_positive=2",
            "synthesis.max_tokens=48",
            "synthesis.rule_fallback=true",
        ],
        tmp_path,
    )
    progress = [
        json.loads(x) for x in (tmp_path / "synthesis_progress.jsonl").read_text().splitlines()
    ]
    assert len(progress) == 4  # one line per source trajectory of the first task
    assert m["synth/llm_calls"] == 2 and m["synth/completion_tokens"] > 0
    for t in _triplets(tmp_path):  # whatever the LLM wrote, what is kept is validated
        nums, target = t.positive.meta["numbers"], t.positive.meta["target"]
        assert not check_answer(nums, _answer(t.negative) or "", Fraction(target))
        assert t.meta["strategy"] == "llm"
    outcomes = {k for p in progress for k in list(p["kept"]) + list(p["dropped"])}
    assert outcomes  # every source reports what happened


def test_wrong_input_is_a_clear_error(tmp_path):
    with pytest.raises(ArtifactError, match="input_dir"):
        run_stage(synthesize, "synthesize", [f"input_dir={tmp_path}"], tmp_path / "out")
