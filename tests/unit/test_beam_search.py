"""planner=beam_search on a scripted tree (the beams kept at each step, the answer, its costs),
on Game of 24 with the prefix oracle, and the prefix oracle's exact values."""

from __future__ import annotations

from fractions import Fraction

import pytest

from arm_exp.agents.base import AgentContext, Proposal
from arm_exp.agents.policy import RandomPolicy
from arm_exp.envs.game24 import Game24Env, solvable
from arm_exp.planning.beam_search import BeamSearchPlanner
from arm_exp.planning.scorers import Game24PrefixOracle
from arm_exp.tally import charge
from arm_exp.types import Step, Trajectory

WINNERS = {("a", "a4", "y")}


class TreeEnv:
    """The state is the path of actions; an action ending in "!" or the third one ends it."""

    benchmark = "tree"
    cheap_snapshot = True

    def __init__(self) -> None:
        self.path: tuple[str, ...] = ()
        self.steps = 0

    def task_ids(self, split: str) -> list[str]:
        return ["t"]

    def reset(self, task_id: str) -> str:
        self.path = ()
        return "root"

    def intent(self) -> str:
        return "find the winner"

    def valid_actions(self) -> list[str]:
        return [f"valid@{'/'.join(self.path)}"]

    def step(self, action: str):
        self.steps += 1
        self.path = (*self.path, action)
        done = action.endswith("!") or len(self.path) == 3
        won = done and self.path in WINNERS
        return "/".join(self.path), float(won), done, {"score": float(won), "success": won}

    def snapshot(self):
        return self.path

    def restore(self, snap) -> None:
        self.path = snap

    def counters(self) -> dict[str, float]:
        return {"env_steps": float(self.steps)}

    def close(self) -> None:
        pass


PROPOSALS = {
    (): ["a", "b", "c", "a"],
    ("b",): ["b1!", "b2", "b1!", "b3"],
    ("a",): ["a1", "a2!", "a3", "a4"],
    ("a", "a4"): ["x", "y", "x", "z"],
    ("a", "a1"): ["p", "q", "p", "q"],  # only reached when a1 is kept (the ties test)
}
SCORES = {
    ("a",): 0.5, ("b",): 0.9, ("c",): 0.1,
    ("b", "b1!"): 0.7, ("b", "b2"): 0.6, ("b", "b3"): 0.1,
    ("a", "a1"): 0.6, ("a", "a2!"): 0.2, ("a", "a3"): 0.0, ("a", "a4"): 0.65,
    ("a", "a4", "x"): 0.3, ("a", "a4", "y"): 0.95, ("a", "a4", "z"): 0.5,
    ("a", "a1", "p"): 0.4, ("a", "a1", "q"): 0.2,
}  # fmt: skip


class ScriptedPolicy:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.valid_seen: list[list[str]] = []

    def propose(self, contexts: list[AgentContext], n: int = 1, temperature=None):
        self.calls.append((len(contexts), n))
        charge(policy_calls=1, proposals=n * len(contexts))
        self.valid_seen.append([c.valid_actions()[0] for c in contexts])
        return [
            [Proposal([a]) for a in PROPOSALS[tuple(c.trajectory.actions)][:n]] for c in contexts
        ]

    def counters(self) -> dict[str, float]:
        return {"policy_calls": 0.0, "proposals": 0.0}


class ScriptedScorer:
    def __init__(self) -> None:
        self.batches: list[int] = []

    def score(self, intents, trajectories) -> list[float]:
        self.batches.append(len(trajectories))
        charge(rm_calls=1, rm_items=len(trajectories))
        return [SCORES[tuple(t.actions)] for t in trajectories]

    def counters(self) -> dict[str, float]:
        return {"rm_calls": 0.0, "rm_items": 0.0}

    def threshold(self, quantile: float, of: str = "negative") -> float:
        return 0.5

    def unit(self, scores):
        return list(scores)


def test_scripted_tree_beams_answer_and_costs():
    policy, scorer = ScriptedPolicy(), ScriptedScorer()
    planner = BeamSearchPlanner(width=2, expansions=4, max_steps=10)
    ep = planner.plan("t", TreeEnv(), policy, scorer)
    # Step 1: a b c (a twice) -> b .9, a .5 kept. Step 2: b1! .7, a4 .65 kept (b2 and a1 at .6
    # fall out); b1! ended, a4 goes on. Step 3: y .95, z .5 kept; both end.
    assert ep.meta["beams"] == [
        [["b"], ["a"]],
        [["b", "b1!"], ["a", "a4"]],
        [["a", "a4", "y"], ["a", "a4", "z"]],
    ]
    assert ep.trajectory.actions == ["a", "a4", "y"] and ep.success
    assert ep.scorer_score == 0.95 and ep.planner == "beam_search"
    assert [(c.scorer_score, c.success) for c in ep.candidates] == [
        (0.7, False), (0.95, True), (0.5, False),
    ]  # fmt: skip
    assert policy.calls == [(1, 4), (2, 4), (1, 4)]  # one batched call per step
    # each beam's valid actions are read at its own state
    assert policy.valid_seen == [["valid@"], ["valid@b", "valid@a"], ["valid@a/a4"]]
    assert scorer.batches == [3, 7, 3]  # distinct children only, one call per step
    c = ep.counters
    assert c["proposals"] == 16 and c["policy_calls"] == 3
    assert c["rm_calls"] == 3 and c["rm_items"] == 13
    assert c["env_steps"] == 13 and c["beam_steps"] == 3 and c["scored_children"] == 13
    assert c["n_candidates"] == 3 and c["oracle_success"] == 1.0


def test_ties_keep_the_proposal_order():
    scores = dict(SCORES)
    SCORES[("a", "a1")] = 0.7  # ties with b1!, proposed after it
    try:
        ep = BeamSearchPlanner(width=2, expansions=4).plan(
            "t", TreeEnv(), ScriptedPolicy(), ScriptedScorer()
        )
    finally:
        SCORES.clear()
        SCORES.update(scores)
    assert ep.meta["beams"][1] == [["b", "b1!"], ["a", "a1"]]


def test_width_one_is_greedy_on_the_scores():
    ep = BeamSearchPlanner(width=1, expansions=4).plan(
        "t", TreeEnv(), ScriptedPolicy(), ScriptedScorer()
    )
    assert ep.meta["beams"] == [[["b"]], [["b", "b1!"]]]
    assert ep.trajectory.actions == ["b", "b1!"] and not ep.success
    assert ep.counters["proposals"] == 8


@pytest.mark.parametrize(("width", "expansions"), [(0, 4), (4, 0)])
def test_refuses_an_empty_beam(width, expansions):
    with pytest.raises(ValueError, match="planner.width"):
        BeamSearchPlanner(width=width, expansions=expansions)


def test_needs_a_scorer():
    with pytest.raises(Exception, match="needs a scorer"):
        BeamSearchPlanner().plan("t", TreeEnv(), ScriptedPolicy(), None)


def test_prefix_oracle_beam_solves_every_solvable_puzzle_it_sees_whole():
    # Every valid action proposed (expansions >= their number), width 1: the prefix oracle keeps
    # a child from which 24 is still reachable at every step, so a solvable puzzle is solved.
    env, oracle = Game24Env(), Game24PrefixOracle()
    planner = BeamSearchPlanner(width=1, expansions=64, max_steps=10)
    for i, task in enumerate(("0", "3", "21", "900")):
        ep = planner.plan(task, env, RandomPolicy(), oracle)
        assert ep.success == solvable(env.numbers(task)), task
        assert ep.counters["beam_steps"] == 4  # three merges, the answer
        assert oracle.counters()["oracle_calls"] == 4 * (i + 1)  # one scoring call per step


def _game24(steps: list[Step], done: bool = False, score: float = 0.0) -> Trajectory:
    if done:
        steps[-1].done = True
    return Trajectory("g", "game24", "0", "", "Input: 1 1 4 6", steps, score=score)


def test_prefix_oracle_values():
    oracle = Game24PrefixOracle()
    assert oracle.reachable((Fraction(4), Fraction(6)))
    assert not oracle.reachable((Fraction(1),) * 4)
    assert oracle.reachable(tuple(sorted(Fraction(x) for x in (1, 5, 5, 5))))  # 5 * (5 - 1/5)
    start = _game24([])
    fraction_left = _game24([Step("1 / 5 = 1/5", "", info={"left": ["1/5", "5", "5"]})])
    dead = _game24([Step("4 - 6 = -2", "", info={"left": ["-2", "1", "1"]})])
    won = _game24([Step("Answer: ...", "", info={"left": ["24"]})], done=True, score=1.0)
    lost = _game24([Step("Answer: ...", "", info={"left": ["10"]})], done=True, score=0.0)
    assert oracle.score([""] * 5, [start, fraction_left, dead, won, lost]) == [1, 1, 0, 1, 0]
    assert oracle.counters() == {"oracle_calls": 1.0, "oracle_items": 5.0}
    assert oracle.unit([0.0, 1.0]) == [0.0, 1.0] and oracle.threshold(0.9) == 1.0
    with pytest.raises(ValueError, match="prefix_oracle knows Game of 24 only"):
        oracle.score([""], [Trajectory("w", "webshop", "0", "", "")])


class RecordingPolicy(ScriptedPolicy):
    """The scripted tree's proposals; records each call's temperature and each context."""

    def __init__(self) -> None:
        super().__init__()
        self.temperatures: list = []
        self.seeds: list = []

    def propose(self, contexts, n=1, temperature=None):
        self.temperatures.append(temperature)
        self.seeds += [c.trajectory.meta.get("seed") for c in contexts]
        return super().propose(contexts, n, temperature)


class IntentScorer(ScriptedScorer):
    def score(self, intents, trajectories):
        assert list(intents) == ["find the winner"] * len(trajectories)
        return super().score(intents, trajectories)


def test_defaults_temperature_ids_and_seeds():
    from arm_exp.rollout import derive_seed

    p = BeamSearchPlanner()
    assert (p.width, p.expansions, p.temperature, p.max_steps, p.seed) == (4, 4, 0.7, 100, 0)
    assert BeamSearchPlanner(width=1, expansions=1).expansions == 1
    policy = RecordingPolicy()
    ep = BeamSearchPlanner(width=2, expansions=4, temperature=0.3, seed=5).plan(
        "t", TreeEnv(), policy, IntentScorer()
    )
    assert policy.temperatures == [0.3, 0.3, 0.3]
    # the answer a/a4/y: step 3 (depth 2) of beam 0 (a4, the only live one), its 2nd action
    assert ep.trajectory.id == "t/d2b0k1" and ep.task_id == "t"
    assert ep.trajectory.meta["seed"] == derive_seed(5, "beam_search", "t", 2, 0, 1)
    assert policy.seeds[0] == derive_seed(5, "beam_search", "t")  # the root's own stream
    # step 2's beams: b (child 1 of step 1) and a (child 0)
    assert policy.seeds[1:3] == [derive_seed(5, "beam_search", "t", 0, 0, 1),
                                 derive_seed(5, "beam_search", "t", 0, 0, 0)]  # fmt: skip


def test_a_policy_answering_for_fewer_beams_is_an_error():
    class Short(ScriptedPolicy):
        def propose(self, contexts, n=1, temperature=None):
            return []

    with pytest.raises(ValueError):
        BeamSearchPlanner().plan("t", TreeEnv(), Short(), ScriptedScorer())


def test_raw_text_proposals_and_invalid_steps_stay_in_the_trajectory():
    # Nothing parsed: the first line of the text is the action (as rollout.propose does); an
    # invalid step with step feedback stays in the child's trajectory (no re-proposal).
    class Raw:
        def propose(self, contexts, n=1, temperature=None):
            return [[Proposal([], text="  1 + 1 = 3 (left: 3 4 6)\nmore"), Proposal([], text="")]
                    for _ in contexts]  # fmt: skip

        def counters(self):
            return {}

    seen = []

    class Zero(ScriptedScorer):
        def score(self, intents, trajectories):
            seen.append([t.actions for t in trajectories])
            return [0.0] * len(trajectories)

    env = Game24Env(step_feedback=True, max_steps=4)
    ep = BeamSearchPlanner(width=2, expansions=2, max_steps=4).plan("0", env, Raw(), Zero())
    assert seen[0] == [["1 + 1 = 3 (left: 3 4 6)"], [""]]
    assert ep.trajectory.steps[0].info["invalid"] and "rejected" not in ep.trajectory.meta
    assert len(ep.trajectory.steps) == 4 and not ep.success


def test_needs_a_scorer_named():
    with pytest.raises(Exception, match="planner=beam_search needs a scorer"):
        BeamSearchPlanner().plan("t", TreeEnv(), ScriptedPolicy(), None)


def test_prefix_oracle_division_memo_and_missing_left():
    oracle = Game24PrefixOracle()
    assert oracle.reachable((Fraction(2), Fraction(48)))  # 48 / 2
    assert oracle.reachable(tuple(sorted(Fraction(x) for x in (1, 1, 2, 7))))  # (1+2)*(1+7)
    assert oracle._reachable[(Fraction(2), Fraction(48))] is True  # memoized
    oracle._reachable[(Fraction(1),) * 4] = True  # the memo is what it answers from
    assert oracle.reachable((Fraction(1),) * 4)
    no_left = _game24([Step("?", "")])
    assert Game24PrefixOracle().score([""], [no_left]) == [0.0]
