"""Synthesis on real explored Game-24 trajectories, both strategies."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from arm_exp.artifacts import load_manifest
from arm_exp.envs.game24 import check_answer
from arm_exp.errors import ArtifactError, StageFailed
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
    assert kinds == set(KINDS)  # no explored run of a backward-written puzzle: no natural ones
    for t in triplets:
        nums, target = t.positive.meta["numbers"], t.positive.meta["target"]
        assert t.intent == t.positive.intent and target == "24" and "obtain 24." in t.intent
        assert t.positive.meta["backward"]
        assert check_answer(nums, _answer(t.positive), Fraction(target))
        neg_answer = _answer(t.negative) or ""
        assert not check_answer(nums, neg_answer, Fraction(target))
    # New puzzles, not the explored ones: few of them are train puzzles of the exploration.
    explored = {p.meta["source"].split("#")[0] for p in (t.positive for t in triplets)}
    assert len({tuple(t.positive.meta["numbers"]) for t in triplets}) > len(explored)
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


def test_explored_positives_are_relabelled_in_hindsight(explored_game24, tmp_path):
    over = [f"input_dir={explored_game24}", "benchmark.synthesis_kit.positives=explored"]
    run_stage(synthesize, "synthesize", over, tmp_path)
    triplets = _triplets(tmp_path)
    assert {t.meta["negative_kind"] for t in triplets} == set(KINDS) | {"natural"}
    for t in triplets:
        target = t.positive.meta["target"]
        assert f"obtain {target}." in t.intent and not t.positive.meta.get("backward")
    # Hindsight: most positives are for values other than 24.
    assert sum(t.positive.meta["hindsight"] for t in triplets) > len(triplets) / 2


def test_intent_target_24_keeps_only_solved(explored_game24, tmp_path):
    m = run_stage(
        synthesize,
        "synthesize",
        [
            f"input_dir={explored_game24}",
            "benchmark.synthesis_kit.positives=explored",
            "benchmark.synthesis_kit.intent_target=24",
        ],
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


def _scienceworld_runs(path, scores):
    """A hand-made ScienceWorld exploration: two runs of each task with the given scores."""
    from arm_exp.types import Step, Trajectory, to_json

    lines = []
    for i, (a, b) in enumerate(scores):
        for j, score in enumerate((a, b)):
            steps = [Step("look around", "You see a kitchen.", info={"score": score / 2}),
                     Step("open door", "The door is open.", info={"score": score})]  # fmt: skip
            lines.append(to_json(Trajectory(f"boil/{i}#{j}", "scienceworld", f"boil/{i}",
                                            "Boil water.", "Kitchen.", steps, score)))  # fmt: skip
    path.mkdir()
    (path / "trajectories.jsonl").write_text("\n".join(lines) + "\n")
    return path


# The success-based option (hand-written runs cannot be replayed for the rule's state hindsight).
SUCCESS = "benchmark.synthesis_kit.intents=success"


def test_no_triplet_fails_naming_the_filter_and_its_knob(tmp_path):
    # A small ScienceWorld exploration: no run reaches min_positive_score, all `low_score`.
    # Training on nothing cannot work, so the stage fails here, where the cause is.
    explored = _scienceworld_runs(tmp_path / "explored", [(0.1, 0.2), (0.0, 0.15), (0.3, 0.1)])
    out = tmp_path / "synth"
    with pytest.raises(StageFailed) as e:
        run_stage(synthesize, "synthesize",
                  ["benchmark=scienceworld", f"input_dir={explored}", SUCCESS], out)  # fmt: skip
    msg = str(e.value)
    assert "kept 0 triplets: 0 of 6 source trajectories" in msg
    assert "low_score x6" in msg and "benchmark.synthesis_kit.min_positive_score=0.5" in msg
    assert "How much exploration" in msg
    assert not load_manifest(out).get("complete")  # nothing downstream may take it as done


def test_few_triplets_warn_with_the_knob(tmp_path, caplog):
    # One task of eleven has a run good enough: a triplet, but from 1 of 22 sources.
    explored = _scienceworld_runs(tmp_path / "explored", [(0.9, 0.1)] + [(0.1, 0.2)] * 10)
    out = tmp_path / "synth"
    with caplog.at_level("WARNING", logger="arm_exp.stages.synthesize"):
        m = run_stage(synthesize, "synthesize",
                      ["benchmark=scienceworld", f"input_dir={explored}", SUCCESS], out)  # fmt: skip
    assert m["synth/n_triplets"] >= 1 and m["synth/sources_with_triplets"] == 1
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"
                 and "source trajectories" in r.getMessage()]  # fmt: skip
    assert "1 of 22 source trajectories" in warning and "min_positive_score=0.5" in warning
    assert load_manifest(out)["counts"]["warnings"] == [warning]
