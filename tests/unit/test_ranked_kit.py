"""The score-ranked synthesis kit (ScienceWorld, WebShop, ALFWorld) on hand-built trajectories."""

import random

import pytest

from arm_exp.llm.base import Generation
from arm_exp.synthesis.llm import LLMSynthesizer
from arm_exp.synthesis.ranked import ScoreRankedKit
from arm_exp.synthesis.rule import RuleSynthesizer
from arm_exp.types import Step, Trajectory


def _traj(tid: str, task: str, scores: list[float]) -> Trajectory:
    steps = [Step(f"act {i}", f"obs {i}", info={"score": s}) for i, s in enumerate(scores)]
    steps[-1].done = True
    return Trajectory(
        tid,
        "scienceworld",
        task,
        "Boil water.",
        "You are in the kitchen.",
        steps,
        scores[-1],
        scores[-1] == 1.0,
    )


def test_rule_pairs_are_ranked_by_score_with_ties_dropped():
    pool = [
        _traj("a#0", "boil/1", [0.1, 0.4, 0.8]),
        _traj("a#1", "boil/1", [0.2, 0.3]),
        _traj("a#2", "boil/1", [0.3, 0.75]),  # within the margin of a#0: a tie, never its negative
        _traj("b#0", "melt/2", [0.1]),
    ]
    synth = RuleSynthesizer(
        ScoreRankedKit("scienceworld", min_positive_score=0.5, margin=0.1), 3, 3, seed=0
    )
    synth.prepare(pool)
    results = {r.source_id: r for r in synth.synthesize(pool)}
    assert results["a#1"].dropped == {"low_score": 1} and results["b#0"].dropped == {"low_score": 1}
    triplets = results["a#0"].triplets
    assert triplets and all(t.positive.id == "a#0" for t in triplets)
    for t in triplets:
        assert t.negative.score <= t.positive.score - 0.1
        assert t.negative.intent == t.intent == "Boil water."
    kinds = {t.meta["negative_kind"] for t in triplets}
    assert kinds == {"natural", "truncated"}
    assert {
        t.negative.meta.get("source") for t in triplets if t.meta["negative_kind"] == "natural"
    } == {"a#1"}


def test_armap_pairs_pair_runs_off_by_reward_with_ties_dropped():
    """ARMAP's WebShop pairs (data_modules.py:225-239): the runs of a goal in input order, paired
    off; the higher reward is the positive, the other its one negative; ties give nothing."""
    pool = [
        _traj("g1#0", "g1", [0.0, 0.1, 0.3]),  # pair (g1#0, g1#1): g1#1 wins, even below 0.5
        _traj("g1#1", "g1", [0.1, 0.4]),
        _traj("g1#2", "g1", [0.2, 0.5]),  # pair (g1#2, g1#3): a tie, dropped
        _traj("g1#3", "g1", [0.5]),
        _traj("g1#4", "g1", [0.9]),  # odd one out: unpaired
        _traj("g2#0", "g2", [1.0]),
        _traj("g2#1", "g2", [0.0, 0.0]),
    ]
    kit = ScoreRankedKit("webshop", pairs=True, truncated_negatives=False)
    synth = RuleSynthesizer(kit, negatives_per_positive=4, natural_negatives=1, seed=0)
    synth.prepare(pool)
    results = {r.source_id: r for r in synth.synthesize(pool)}
    pairs = {
        (t.positive.id, t.negative.meta["source"]) for r in results.values() for t in r.triplets
    }
    assert pairs == {("g1#1", "g1#0"), ("g2#0", "g2#1")}
    assert results["g1#0"].dropped == {"lower_in_pair": 1}
    assert results["g1#2"].dropped == results["g1#3"].dropped == {"tie_in_pair": 1}
    assert results["g1#4"].dropped == {"unpaired": 1}
    assert all(len(r.triplets) <= 1 for r in results.values())  # one negative per positive
    assert kit.negative_kinds() == []  # no truncated negatives (ARMAP has none)


def test_truncated_negatives_are_a_named_option_on_pairs():
    pool = [_traj("g#0", "g", [0.1, 0.5, 1.0]), _traj("g#1", "g", [0.0, 0.2])]
    kit = ScoreRankedKit("webshop", pairs=True, truncated_negatives=True, margin=0.1)
    synth = RuleSynthesizer(kit, negatives_per_positive=1, natural_negatives=1, seed=0)
    synth.prepare(pool)
    kinds = sorted(t.meta["negative_kind"] for r in synth.synthesize(pool) for t in r.triplets)
    assert kinds == ["natural", "truncated"]


def test_truncation_uses_the_recorded_partial_score():
    kit = ScoreRankedKit("scienceworld", margin=0.1, max_truncations=2)
    pos = _traj("p", "boil/1", [0.1, 0.2, 0.9, 1.0])
    neg = kit.rule_negative(pos, "truncated", random.Random(0))
    assert not isinstance(neg, str)
    assert neg.score in (0.9 - 0.0, 0.2) and len(neg.steps) in (2, 3)
    assert neg.score == neg.steps[-1].info["score"]
    flat = _traj("q", "boil/1", [1.0, 1.0, 1.0])  # cutting never lowers the score: no negative
    assert kit.rule_negative(flat, "truncated", random.Random(0)) == "cannot_make_truncated"


def test_llm_outputs_are_parsed_without_raising():
    kit = ScoreRankedKit("scienceworld")
    src = _traj("p", "boil/1", [0.1, 1.0])
    pos = kit.parse_intent("Task: Your task is to boil water.\nmore text", src)
    assert (
        not isinstance(pos, str)
        and pos.intent == "Your task is to boil water."
        and pos.meta["hindsight"]
    )
    assert kit.parse_intent("", src) == "intent_empty"
    neg = kit.parse_negative(
        "Action: go to hallway\nObservation: You are in the hallway.\nAction: wait",
        pos,
        "truncated",
    )
    assert not isinstance(neg, str) and [s.action for s in neg.steps] == ["go to hallway", "wait"]
    assert kit.parse_negative("nothing useful", pos, "truncated") == "negative_unparseable"
    assert "boil water" in kit.negative_prompt(pos, "truncated")[0]["content"]


class _ScriptedLLM:
    """The LLM protocol answering every prompt with one fixed text (no model)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def generate(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=128, stop=None, seed=None
    ):
        return [Generation([self.text] * n) for _ in prompts]

    def counters(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        pass


def test_llm_synthesis_makes_no_truncated_negatives_on_scienceworld():
    """Fidelity row 13: with ``synthesis=llm`` the kit's ``truncated`` kind only says how many
    LLM-edited negatives to ask for; no positive is cut (that is the rule strategy's)."""
    pool = [_traj("a#0", "boil/1", [0.1, 0.4, 0.8]), _traj("a#1", "boil/1", [0.2, 0.3])]
    text = "Task: Your task is to boil water.\nAction: go to hallway\nAction: wait"
    synth = LLMSynthesizer(ScoreRankedKit("scienceworld"), _ScriptedLLM(text), 3, 1, seed=0)
    synth.prepare(pool)
    triplets = [t for r in synth.synthesize(pool) for t in r.triplets]
    kinds = [t.meta["negative_kind"] for t in triplets]
    assert "truncated" not in kinds and kinds.count("llm_edited") >= 3 and "natural" in kinds


def test_state_hindsight_kits_keep_the_success_option_without_an_engine():
    """intents=success is the score-ranked kit: no replay, so no engine is started."""
    from arm_exp.envs.alfworld import AlfWorldEnv
    from arm_exp.envs.scienceworld import ScienceWorldEnv
    from arm_exp.synthesis.alfworld import AlfWorldKit
    from arm_exp.synthesis.scienceworld import ScienceWorldKit

    pool = [_traj("a#0", "boil/1", [0.1, 0.4, 0.8]), _traj("a#1", "boil/1", [0.2, 0.3])]
    env = ScienceWorldEnv()
    synth = RuleSynthesizer(ScienceWorldKit(env, intents="success"), 1, 1, seed=0)
    synth.prepare(pool)
    results = {r.source_id: r for r in synth.synthesize(pool)}
    assert results["a#1"].dropped == {"low_score": 1}
    assert {t.meta["negative_kind"] for t in results["a#0"].triplets} == {"natural", "truncated"}
    assert env.jvm_pid is None
    with pytest.raises(ValueError, match=r"benchmark.synthesis_kit.intents='won': one of state"):
        AlfWorldKit(AlfWorldEnv(None), intents="won")
