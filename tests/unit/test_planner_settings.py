"""Each planner does what its settings say: temperatures, step caps, retries, seeds and ids reach
the rollouts; the scorer sees the intent; the episode names its planner, task and pick; the
defaults are the documented ones; bad settings fail with the config key."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from arm_exp.agents.base import AgentContext, Proposal
from arm_exp.agents.policy import RandomPolicy
from arm_exp.planning.base import Meter
from arm_exp.planning.best_of_n import BestOfNPlanner
from arm_exp.planning.greedy import GreedyPlanner
from arm_exp.planning.objectives import FewerActions, LowerPrice
from arm_exp.planning.reflexion import ReflexionPlanner
from arm_exp.planning.sampling import SamplingPlanner
from arm_exp.rollout import derive_seed
from arm_exp.tally import charge
from arm_exp.types import Trajectory
from tests.unit.test_planners import PrefixScorer, TreeEnv


class SpyPolicy(RandomPolicy):
    """Random valid moves; records each call's temperature and ``n``; the first move of every
    trajectory is an invalid ``X`` (so retries show)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[float | None, int, int]] = []

    def propose(self, contexts: list[AgentContext], n: int = 1, temperature=None):
        self.calls.append((temperature, n, len(contexts)))
        out = super().propose(contexts, n, temperature)
        return [
            [Proposal(["X"])] * n
            if not ctx.trajectory.steps and not ctx.trajectory.meta.get("rejected")
            else props
            for ctx, props in zip(contexts, out, strict=True)
        ]


class SpyScorer(PrefixScorer):
    """PrefixScorer that records the intents it was asked about and its threshold arguments."""

    def __init__(self, threshold: float = 1.0) -> None:
        super().__init__(threshold)
        self.intents: list[str] = []
        self.asked: list[tuple[float, str]] = []
        self.scored: list[list[str]] = []
        self.values: list[float] = []

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        self.intents += list(intents)
        self.scored += [t.actions for t in trajectories]
        out = super().score(intents, trajectories)
        self.values += out
        return out

    def threshold(self, quantile: float, of: str = "negative") -> float:
        self.asked.append((quantile, of))
        return super().threshold(quantile, of)


def _seeds_ok(ep, name: str, seed: int, *parts) -> None:
    assert ep.trajectory.meta["seed"] == derive_seed(seed, name, ep.task_id, *parts)


def test_sampling_and_greedy_pass_their_settings_to_the_rollout():
    for planner, temperature in (
        (SamplingPlanner(temperature=0.3, max_steps=2, invalid_action_retries=1, seed=4), 0.3),
        (GreedyPlanner(max_steps=2, invalid_action_retries=1, seed=4), 0.0),
    ):
        policy, scorer = SpyPolicy(), SpyScorer()
        ep = planner.plan("t0", TreeEnv(), policy, scorer)
        assert {c[0] for c in policy.calls} == {temperature} and planner.name == ep.planner
        traj = ep.trajectory
        assert len(traj.steps) == 2 and traj.meta["stop_reason"] == "max_steps"
        assert [r["action"] for r in traj.meta["rejected"]] == ["X"]  # one retry, then valid
        assert traj.id == "t0/0" and traj.task_id == ep.task_id == "t0"
        _seeds_ok(ep, planner.name, 4)
        # a scorer only annotates the single trajectory; it is asked with the task's intent
        assert scorer.intents == ["walk RLR"]
        assert ep.scorer_score == ep.candidates[0].scorer_score == scorer.score([""], [traj])[0]
        assert ep.counters["policy_calls"] == len(policy.calls) and ep.counters["rm_calls"] == 1
    greedy = GreedyPlanner()
    assert (greedy.temperature, greedy.max_steps, greedy.invalid_action_retries, greedy.seed) == (
        0.0, 100, 0, 0)  # fmt: skip
    sampling = SamplingPlanner()
    assert (sampling.temperature, sampling.max_steps, sampling.invalid_action_retries, sampling.seed) == (
        0.7, 100, 0, 0)  # fmt: skip
    for cls in (GreedyPlanner, SamplingPlanner):
        with pytest.raises(ValueError) as err:
            cls(objective=FewerActions())
        assert str(err.value) == (
            f"planner.objective=fewer_actions: {cls.name} commits to its only trajectory; "
            "a customizable reward target needs planner=best_of_n, reflexion or mcts"
        )


def test_sampling_seed_and_task_decide_the_trajectory():
    def actions(seed: int, task: str) -> list[list[str]]:
        return [
            SamplingPlanner(seed=seed, max_steps=3).plan(task, TreeEnv(), RandomPolicy(), None)
            .trajectory.actions for _ in range(2)
        ]  # fmt: skip

    a = actions(0, "t0")
    assert a[0] == a[1]  # reproducible
    others = [actions(s, t)[0] for s, t in ((1, "t0"), (2, "t0"), (0, "t1"), (0, "t2"))]
    assert any(o != a[0] for o in others)


def test_best_of_n_passes_its_settings_and_seeds_each_sample():
    policy, scorer = SpyPolicy(), SpyScorer()
    planner = BestOfNPlanner(n=6, temperature=0.4, max_steps=2, invalid_action_retries=1, seed=9)
    ep = planner.plan("t3", TreeEnv(), policy, scorer)
    assert {c[0] for c in policy.calls} == {0.4}
    assert ep.planner == "best_of_n" and ep.task_id == ep.trajectory.task_id == "t3"
    assert all(c.num_steps == 2 for c in ep.candidates)
    assert scorer.intents == ["walk RLR"] * 6
    best = [c.scorer_score for c in ep.candidates].index(ep.scorer_score)
    assert ep.trajectory.id == f"t3/{best}" and ep.trajectory.meta["rejected"]
    _seeds_ok(ep, "best_of_n", 9, best)
    assert ep.counters["policy_calls"] == len(policy.calls)
    defaults = BestOfNPlanner()
    assert (defaults.n, defaults.temperature, defaults.max_steps) == (100, 0.7, 100)
    assert (defaults.invalid_action_retries, defaults.seed, defaults.objective) == (0, 0, None)
    assert BestOfNPlanner(n=1).n == 1
    with pytest.raises(ValueError, match=r"^planner.n=0: must be >= 1$"):
        BestOfNPlanner(n=0)
    with pytest.raises(Exception, match="planner=best_of_n needs a scorer"):
        planner.plan("t3", TreeEnv(), policy, None)

    class Short(PrefixScorer):  # a broken scorer: one score missing
        def score(self, intents, trajectories):
            return super().score(intents, trajectories)[:-1]

    with pytest.raises(ValueError):
        BestOfNPlanner(n=3).plan("t3", TreeEnv(), RandomPolicy(), Short())


class ReflectingPolicy(RandomPolicy):
    """Random moves; writes reflections and records what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.reflected: list[tuple[str, list[str], int]] = []
        self.temperatures: set[float | None] = set()

    def propose(self, contexts, n=1, temperature=None):
        self.temperatures.add(temperature)
        return super().propose(contexts, n, temperature)

    def reflect(self, intent: str, trajectory: Trajectory, max_tokens: int = 0) -> str:
        self.reflected.append((intent, trajectory.actions, max_tokens))
        return f"reflection {len(self.reflected)}"


def test_reflexion_passes_its_settings_and_keeps_the_reflections():
    policy, scorer = ReflectingPolicy(), SpyScorer(threshold=2.0)  # never cleared
    planner = ReflexionPlanner(
        trials=3, temperature=0.2, threshold_quantile=0.8, threshold_of="positive",
        reflection_max_tokens=17, max_steps=2, seed=6, answer="last",
    )  # fmt: skip
    ep = planner.plan("t1", TreeEnv(), policy, scorer)
    assert scorer.asked == [(0.8, "positive")] and ep.counters["threshold"] == 2.0
    assert scorer.intents == ["walk RLR"] * 3 and policy.temperatures == {0.2}
    # a reflection after each trial but the last, on that trial, with the length asked for
    assert [(i, m) for i, _, m in policy.reflected] == [("walk RLR", 17)] * 2
    assert ep.meta == {"reflections": ["reflection 1", "reflection 2"]}
    assert ep.trajectory.meta["reflections"] == ["reflection 1", "reflection 2"]
    assert ep.trajectory.id == "t1/2" and ep.trajectory.task_id == ep.task_id == "t1"
    assert ep.planner == "reflexion" and len(ep.trajectory.steps) == 2
    # each reflection is written on the trial it follows
    assert [a for _, a, _ in policy.reflected] == scorer.scored[:2]
    _seeds_ok(ep, "reflexion", 6, 2)
    assert [c.scorer_score for c in ep.candidates] == scorer.values
    assert ep.scorer_score == scorer.values[-1] and ep.counters["rm_calls"] == 3
    assert ep.counters["policy_calls"] == 3 * 2  # a call per step: two steps per trial


def test_reflexion_trial_reflections_and_answer_with_an_objective():
    policy = ReflectingPolicy()
    ep = ReflexionPlanner(trials=1).plan("t0", TreeEnv(), policy, SpyScorer(threshold=2.0))
    assert ep.counters["trials"] == 1 and policy.reflected == []  # nothing after the last trial
    obj = FewerActions(0.5)
    ep = ReflexionPlanner(trials=2, answer="best", objective=obj, threshold=5.0).plan(
        "t0", TreeEnv(), ReflectingPolicy(), SpyScorer()
    )
    assert ep.counters["objective_value"] == -3.0 and ep.meta["objective"]["weight"] == 0.5
    assert [c.objective for c in ep.candidates] == [-3.0, -3.0]
    assert ep.counters["planning_value"] == pytest.approx(ep.scorer_score - 1.5)


def test_reflexion_defaults_and_errors():
    r = ReflexionPlanner()
    assert (r.threshold, r.threshold_quantile, r.threshold_of) == (None, 0.9, "negative")
    assert (r.reflection_max_tokens, r.max_steps, r.invalid_action_retries, r.seed) == (
        128,
        100,
        0,
        0,
    )
    assert ReflexionPlanner(trials=1, threshold_of="positive").threshold_of == "positive"
    with pytest.raises(ValueError, match=r"^planner.trials=0: must be >= 1$"):
        ReflexionPlanner(trials=0)
    with pytest.raises(
        ValueError, match=r"^planner.threshold_of='both': 'negative' or 'positive'$"
    ):
        ReflexionPlanner(threshold_of="both")
    with pytest.raises(
        ValueError, match=r"^planner.answer='first': one of last, passing_else_first, best$"
    ):
        ReflexionPlanner(answer="first")
    with pytest.raises(ValueError) as err:
        ReflexionPlanner(objective=FewerActions(), answer="passing_else_first")
    assert str(err.value) == (
        "planner.objective with planner.answer=passing_else_first: a customizable reward target "
        "ranks the trials, so it needs planner.answer=best (ARMAP's rules return a fixed trial)"
    )
    with pytest.raises(Exception, match="planner=reflexion needs a scorer"):
        r.plan("t0", TreeEnv(), RandomPolicy(), None)


def test_objective_weights_and_scales_are_checked():
    assert FewerActions(0).weight == 0 and FewerActions().weight == 0.1
    low = LowerPrice()
    assert (low.weight, low.scale, low.unpurchased_price) == (1.0, 100.0, 1000.0)
    assert LowerPrice(weight=0, scale=0.5).scale == 0.5
    for bad in ({"weight": -1.0}, {"scale": 0.0}, {"weight": -1.0, "scale": 1.0}, {"scale": -2.0}):
        with pytest.raises(ValueError) as err:
            LowerPrice(**bad)
        w, s = bad.get("weight", 1.0), bad.get("scale", 100.0)
        assert str(err.value) == f"planner.objective: weight={w} must be >= 0 and scale={s} > 0"
    with pytest.raises(ValueError, match=r"^planner.objective.weight=-0.5: must be >= 0$"):
        FewerActions(-0.5)


def test_episode_fields_candidates_and_costs():
    env = TreeEnv()
    env.steps = 40  # the env ran other tasks before: only this task's steps are its cost
    started = time.perf_counter()
    ep = BestOfNPlanner(n=16, seed=4).plan("t0", env, RandomPolicy(), PrefixScorer())
    took = time.perf_counter() - started
    assert (ep.id, ep.task_id, ep.benchmark, ep.planner) == ("t0", "t0", "tree", "best_of_n")
    assert (ep.split, ep.policy, ep.scorer) == ("", "", "")  # the plan stage fills these in
    assert ep.score == ep.trajectory.score and ep.success == ep.trajectory.success
    assert 0 < ep.wall_s <= took
    assert ep.counters["env_steps"] == env.steps - 40 == 16 * 3
    wins = sum(c.success for c in ep.candidates)
    assert 0 < wins < 16  # this seed's samples include a success, so the rates mean something
    assert ep.counters["mean_success"] == wins / 16 and ep.counters["oracle_success"] == 1.0
    assert ep.counters["actions"] == 3 and "objective_value" not in ep.counters
    assert sorted(c.score for c in ep.candidates) == sorted(float(c.success) for c in ep.candidates)


def test_meter_counts_zero_for_what_a_task_did_not_use_and_only_inside_with():
    class Quiet:  # counts LLM calls, but this task makes none
        def counters(self) -> dict[str, float]:
            return {"llm_calls": 5.0, "policy_calls": 2.0}

    meter = Meter(TreeEnv(), Quiet(), PrefixScorer())
    with pytest.raises(RuntimeError) as err:
        meter.counters()
    assert str(err.value) == "Meter.counters() outside `with Meter(...)`"
    with meter:
        charge(rm_calls=2)
        counts = meter.counters()
    assert counts == {"env_steps": 0.0, "llm_calls": 0.0, "policy_calls": 0.0, "rm_calls": 2.0}
