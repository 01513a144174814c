"""Each planner on a tiny scripted environment with a known best path and a fake scorer."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from arm_exp.agents.base import AgentContext, Proposal
from arm_exp.agents.policy import RandomPolicy
from arm_exp.planning.base import PlanningError
from arm_exp.planning.best_of_n import BestOfNPlanner
from arm_exp.planning.greedy import GreedyPlanner
from arm_exp.planning.mcts import MCTSPlanner
from arm_exp.planning.reflexion import ReflexionPlanner
from arm_exp.planning.sampling import SamplingPlanner
from arm_exp.tally import charge
from arm_exp.types import Trajectory

TARGET = "RLR"


class TreeEnv:
    """A depth-3 binary tree; actions L/R; the only success is R-L-R."""

    benchmark = "tree"
    cheap_snapshot = True

    def __init__(self, depth: int = 3) -> None:
        self.depth = depth
        self.path = ""
        self.steps = 0

    def task_ids(self, split: str) -> list[str]:
        return ["t0"]

    def reset(self, task_id: str) -> str:
        self.path = ""
        return "at the root"

    def intent(self) -> str:
        return f"walk {TARGET}"

    def step(self, action: str):
        self.steps += 1
        if action not in ("L", "R") or len(self.path) >= self.depth:
            return "no such move", 0.0, False, {"invalid": True, "score": 0.0, "success": False}
        self.path += action
        done = len(self.path) == self.depth
        success = done and self.path == TARGET
        return (
            f"at {self.path}",
            float(success),
            done,
            {"score": float(success), "success": success, "invalid": False},
        )

    def valid_actions(self) -> list[str]:
        return [] if len(self.path) >= self.depth else ["L", "R"]

    def snapshot(self) -> str:
        return self.path

    def restore(self, snapshot: str) -> None:
        self.path = snapshot

    def counters(self) -> dict[str, float]:
        return {"env_steps": self.steps}

    def close(self) -> None:
        pass


class PrefixScorer:
    """Fake reward model: the share of the target path the trajectory got right, in order."""

    def __init__(self, threshold: float = 1.0) -> None:
        self._threshold = threshold
        self.calls = 0

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        self.calls += 1
        charge(rm_calls=1)  # the Scorer protocol: costs are charged to the calling task
        out = []
        for t in trajectories:
            path = "".join(t.actions)
            n = 0
            while n < len(path) and n < len(TARGET) and path[n] == TARGET[n]:
                n += 1
            out.append(n / len(TARGET))
        return out

    def threshold(self, quantile: float, of: str = "negative") -> float:
        return self._threshold

    def unit(self, scores: Sequence[float]) -> list[float]:
        return [float(s) for s in scores]  # already in [0, 1]

    def counters(self) -> dict[str, float]:
        return {"rm_calls": float(self.calls)}


def test_best_of_n_picks_the_argmax():
    ep = BestOfNPlanner(n=8, seed=3).plan("t0", TreeEnv(), RandomPolicy(), PrefixScorer())
    scores = [c.scorer_score for c in ep.candidates]
    assert len(scores) == 8 and ep.scorer_score == max(scores)
    assert PrefixScorer().score([""], [ep.trajectory])[0] == max(scores)
    assert ep.counters["n_candidates"] == 8
    assert ep.counters["oracle_success"] == float(any(c.success for c in ep.candidates))
    assert ep.counters["rm_calls"] == 1  # all N scored in one batched call


def test_lockstep_cursors_draw_from_their_own_state_on_game24():
    """Lock-step cursors share one env: each must see its own valid actions (regression: all N
    random candidates drew from the last-moved cursor's state and ended on invalid steps)."""
    from arm_exp.envs.game24 import Game24Env
    from arm_exp.rollout import EpisodeJob, fork_cursor, run_cursors, start_cursor

    env = Game24Env()
    root = start_cursor(env, EpisodeJob("root", "900", 0))
    cursors = [fork_cursor(root, env, f"c{k}", k) for k in range(16)]
    run_cursors(env, RandomPolicy(), cursors, None)
    trajs = [c.trajectory for c in cursors]
    assert all(not s.info.get("invalid") for t in trajs for s in t.steps)
    assert all(len(t.steps) == 4 and t.done for t in trajs)  # 3 operations + the answer
    assert len({tuple(s.action for s in t.steps) for t in trajs}) > 8
    ep = BestOfNPlanner(n=16, seed=0).plan("900", env, RandomPolicy(), PrefixScorer())
    assert all(c.num_steps == 4 for c in ep.candidates)


def test_best_of_n_needs_a_scorer():
    with pytest.raises(PlanningError, match="needs a scorer"):
        BestOfNPlanner(n=2).plan("t0", TreeEnv(), RandomPolicy(), None)


@pytest.mark.parametrize("seed", range(5))
def test_mcts_finds_the_best_path_within_budget(seed):
    env = TreeEnv()
    ep = MCTSPlanner(rollouts=20, expansion=2, seed=seed).plan(
        "t0", env, RandomPolicy(), PrefixScorer()
    )
    assert ep.success and "".join(ep.trajectory.actions) == TARGET


def test_mcts_takes_at_most_depth_plus_one_env_steps_per_rollout():
    env = TreeEnv(depth=3)
    ep = MCTSPlanner(rollouts=25, expansion=2, seed=1).plan(
        "t0", env, RandomPolicy(), PrefixScorer()
    )
    steps, depths = ep.meta["rollout_env_steps"], ep.meta["rollout_depths"]
    assert len(steps) == 25
    assert all(s <= d + 1 for s, d in zip(steps, depths, strict=True)), list(
        zip(steps, depths, strict=True)
    )
    assert sum(steps) == env.counters()["env_steps"]  # every env step is accounted for
    assert ep.counters["env_steps"] == sum(steps)


class ScriptedPolicy:
    """Plays a fixed path per attempt (a new attempt starts at an empty trajectory) and writes
    numbered reflections; records the reflections it saw."""

    def __init__(self, attempts: list[str]) -> None:
        self.attempts = attempts
        self.attempt = -1
        self.seen_reflections: list[list[str]] = []
        self.reflect_calls = 0

    def propose(self, contexts: list[AgentContext], n: int = 1, temperature: float | None = None):
        out = []
        for ctx in contexts:
            if not ctx.trajectory.steps:
                self.attempt += 1
                self.seen_reflections.append(list(ctx.reflections))
            path = self.attempts[min(self.attempt, len(self.attempts) - 1)]
            out.append([Proposal([path[len(ctx.trajectory.steps)]])] * n)
        return out

    def reflect(self, intent: str, trajectory: Trajectory, max_tokens: int = 128) -> str:
        self.reflect_calls += 1
        return f"reflection {self.reflect_calls}"

    def counters(self) -> dict[str, float]:
        return {"policy_calls": 0.0}


@pytest.mark.parametrize("answer", ["last", "passing_else_first", "best"])
def test_reflexion_stops_at_the_calibrated_threshold_and_carries_reflections(answer):
    policy = ScriptedPolicy(["LLL", "RLL", "RLR", "RRR"])
    planner = ReflexionPlanner(trials=10, answer=answer)
    ep = planner.plan("t0", TreeEnv(), policy, PrefixScorer(threshold=0.6))
    # RLL scores 2/3 >= 0.6: stop after the second attempt, which every rule then returns.
    assert ep.counters["trials"] == 2 and ep.counters["stopped_at_threshold"] == 1.0
    assert policy.seen_reflections == [[], ["reflection 1"]]
    assert "".join(ep.trajectory.actions) == "RLL" and ep.counters["answer_trial"] == 1


@pytest.mark.parametrize(
    ("answer", "picked"), [("last", "LRR"), ("passing_else_first", "LLL"), ("best", "RLL")]
)
def test_reflexion_answer_rules_when_no_attempt_clears_the_threshold(answer, picked):
    """ARMAP: the last attempt (Game of 24, WebShop) or the first (ScienceWorld, nothing
    passed); ours: the best-scored."""
    policy = ScriptedPolicy(["LLL", "RLL", "LRR"])
    planner = ReflexionPlanner(trials=3, answer=answer)
    ep = planner.plan("t0", TreeEnv(), policy, PrefixScorer(threshold=1.0))
    assert ep.counters["trials"] == 3 and ep.counters["stopped_at_threshold"] == 0.0
    assert "".join(ep.trajectory.actions) == picked
    assert policy.seen_reflections[-1] == ["reflection 1", "reflection 2"]


def test_reflexion_raw_threshold_must_be_exceeded_as_armap():
    """ARMAP stops on ``score > threshold`` (a raw score): 2/3 does not pass 2/3."""
    policy = ScriptedPolicy(["RLL", "RLR", "RRR"])
    planner = ReflexionPlanner(trials=5, threshold=2 / 3, answer="passing_else_first")
    ep = planner.plan("t0", TreeEnv(), policy, PrefixScorer(threshold=0.0))
    assert ep.counters["trials"] == 2 and ep.counters["threshold"] == pytest.approx(2 / 3)
    assert "".join(ep.trajectory.actions) == "RLR" and ep.success


def test_reflexion_defaults_are_armaps():
    planner = ReflexionPlanner()
    assert (planner.trials, planner.temperature, planner.answer) == (10, 0.0, "last")
    with pytest.raises(ValueError, match="planner.answer"):
        ReflexionPlanner(answer="first")
    from arm_exp.planning.objectives import FewerActions

    with pytest.raises(ValueError, match="needs planner.answer=best"):
        ReflexionPlanner(objective=FewerActions())


def test_greedy_and_sampling_produce_one_trajectory():
    for planner in (GreedyPlanner(), SamplingPlanner(temperature=0.7)):
        ep = planner.plan("t0", TreeEnv(), RandomPolicy(), None)
        assert len(ep.trajectory.steps) == 3 and ep.scorer_score is None and len(ep.candidates) == 1
