"""Customizable reward targets (planner.objective): the pick changes among equal scorer scores,
the scorer's own score and the objective's measures are reported separately."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from arm_exp.agents.policy import RandomPolicy
from arm_exp.planning.best_of_n import BestOfNPlanner
from arm_exp.planning.greedy import GreedyPlanner
from arm_exp.planning.mcts import MCTSPlanner
from arm_exp.planning.objectives import FewerActions, LowerPrice, measure, planning_values
from arm_exp.planning.reflexion import ReflexionPlanner
from arm_exp.planning.sampling import SamplingPlanner
from arm_exp.types import Step, Trajectory


class LineEnv:
    """Walk ``go`` until ``buy`` (or 6 steps); buying after k steps pays 10 * (6 - k) dollars."""

    benchmark = "line"
    cheap_snapshot = True

    def __init__(self) -> None:
        self.n = 0
        self.done = False
        self.steps = 0

    def task_ids(self, split: str) -> list[str]:
        return ["t"]

    def reset(self, task_id: str) -> str:
        self.n, self.done = 0, False
        return "start"

    def intent(self) -> str:
        return "buy something"

    def step(self, action: str):
        self.steps += 1
        if self.done or action not in ("go", "buy"):
            return "no", 0.0, self.done, {"invalid": True, "score": 0.0, "success": False}
        self.n += 1
        info = {"invalid": False, "score": 0.0, "success": False}
        if action == "buy":
            self.done = True
            info["purchased_price"] = 10.0 * (6 - self.n)
        elif self.n >= 6:
            self.done = True
        return f"at {self.n}", 0.0, self.done, info

    def valid_actions(self) -> list[str]:
        return [] if self.done else ["go", "buy"]

    def snapshot(self):
        return self.n, self.done

    def restore(self, snap) -> None:
        self.n, self.done = snap

    def counters(self) -> dict[str, float]:
        return {"env_steps": self.steps}

    def close(self) -> None:
        pass


class ConstantScorer:
    """Every trajectory looks the same to it (equal RM scores); never says 'success'."""

    def __init__(self, value: float = 0.5) -> None:
        self.value = value

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        return [self.value] * len(trajectories)

    def threshold(self, quantile: float, of: str = "negative") -> float:
        return 10.0

    def unit(self, scores: Sequence[float]) -> list[float]:
        return [float(s) for s in scores]

    def counters(self) -> dict[str, float]:
        return {}


def _traj(actions: int, price: float | None) -> Trajectory:
    steps = [Step("go", "x") for _ in range(actions)]
    if price is not None:
        steps[-1].info["purchased_price"] = price
    return Trajectory("i", "b", "t", "x", "x", steps)


def test_objective_values_and_measures():
    short, long_ = _traj(2, 30.0), _traj(5, None)
    assert FewerActions(0.1).value(short) == -2 and LowerPrice().value(short) == -0.3
    assert LowerPrice().value(long_) == -10.0  # no purchase counts as paying $1000
    assert planning_values([1.0, 1.0], [short, long_], None) == [1.0, 1.0]
    assert planning_values([1.0, 1.0], [short, long_], FewerActions(0.1)) == pytest.approx(
        [0.8, 0.5]
    )
    assert measure(short) == {"actions": 2.0, "price_paid": 30.0}
    assert measure(long_) == {"actions": 5.0}
    ended = _traj(3, None)
    ended.steps[-1].info.update(max_score=1, final_score=0.25)  # ScienceWorld's two readings
    assert measure(ended) == {"actions": 3.0, "max_score": 1.0, "final_score": 0.25}
    assert all(type(v) is float for v in measure(ended).values())
    with pytest.raises(ValueError):  # a score without its trajectory is a bug, not a shorter list
        planning_values([1.0], [short, long_], FewerActions(0.1))
    with pytest.raises(ValueError, match="weight"):
        FewerActions(-1)


def test_best_of_n_pick_changes_among_equal_scores_with_fewer_actions():
    plain = BestOfNPlanner(n=8, seed=1).plan("t", LineEnv(), RandomPolicy(), ConstantScorer())
    lengths = [c.num_steps for c in plain.candidates]
    assert len(set(lengths)) > 1 and lengths[0] != min(lengths)  # the seed gives a real choice
    assert plain.counters["actions"] == lengths[0]  # ties: the first, as without an objective
    assert "objective_value" not in plain.counters and all(
        c.objective is None for c in plain.candidates
    )

    obj = FewerActions(weight=0.1)
    ep = BestOfNPlanner(n=8, seed=1, objective=obj).plan(
        "t", LineEnv(), RandomPolicy(), ConstantScorer()
    )
    assert [c.num_steps for c in ep.candidates] == lengths  # same samples
    assert ep.counters["actions"] == min(lengths) == len(ep.trajectory.steps)
    assert ep.scorer_score == 0.5  # the scorer's own score, not the planning value
    assert ep.counters["objective_value"] == -min(lengths)
    assert ep.counters["planning_value"] == pytest.approx(0.5 - 0.1 * min(lengths))
    assert [c.objective for c in ep.candidates] == [-n for n in lengths]
    assert ep.meta["objective"] == {"name": "fewer_actions", "weight": 0.1}


def test_weight_trades_the_objective_against_the_scorer():
    class LongerIsBetter(ConstantScorer):
        def score(self, intents, trajectories):
            return [0.1 * len(t.steps) for t in trajectories]

    lengths = None
    for weight, expect in ((0.05, max), (0.2, min)):
        ep = BestOfNPlanner(n=8, seed=1, objective=FewerActions(weight)).plan(
            "t", LineEnv(), RandomPolicy(), LongerIsBetter()
        )
        lengths = [c.num_steps for c in ep.candidates]
        assert len(ep.trajectory.steps) == expect(lengths), weight


def test_lower_price_picks_the_cheapest_purchase():
    ep = BestOfNPlanner(n=8, seed=2, objective=LowerPrice()).plan(
        "t", LineEnv(), RandomPolicy(), ConstantScorer()
    )
    # LineEnv: the later the purchase, the cheaper; no purchase counts as $1000.
    bought = [c for c in ep.candidates if c.objective is not None and c.objective > -10]
    assert bought and ep.counters["price_paid"] == -100 * max(c.objective for c in bought)


def test_reflexion_returns_the_shortest_of_equally_scored_trials():
    """With ``answer=best`` (ours; ARMAP's rules return a fixed trial, objective or not)."""
    plain = ReflexionPlanner(trials=6, seed=0, answer="best").plan(
        "t", LineEnv(), RandomPolicy(), ConstantScorer()
    )
    ep = ReflexionPlanner(trials=6, seed=0, answer="best", objective=FewerActions()).plan(
        "t", LineEnv(), RandomPolicy(), ConstantScorer()
    )
    lengths = [c.num_steps for c in ep.candidates]
    assert ep.counters["trials"] == 6  # the scorer alone decides when to stop
    assert ep.counters["actions"] == min(lengths)
    assert plain.counters["actions"] == lengths[0] != min(lengths)


def test_mcts_answer_and_values_use_the_objective():
    ep = MCTSPlanner(rollouts=12, expansion=2, seed=0, objective=FewerActions(0.1)).plan(
        "t", LineEnv(), RandomPolicy(), ConstantScorer()
    )
    assert ep.scorer_score == 0.5
    assert len(ep.trajectory.steps) == min(c.num_steps for c in ep.candidates)
    assert ep.counters["planning_value"] == pytest.approx(0.5 - 0.1 * len(ep.trajectory.steps))


@pytest.mark.parametrize("planner", [GreedyPlanner, SamplingPlanner])
def test_single_trajectory_planners_refuse_an_objective(planner):
    with pytest.raises(ValueError, match="needs planner=best_of_n, reflexion or mcts"):
        planner(objective=FewerActions())


def test_every_episode_measures_its_pick():
    ep = SamplingPlanner(seed=0).plan("t", LineEnv(), RandomPolicy(), None)
    assert ep.counters["actions"] == len(ep.trajectory.steps)
    assert ("price_paid" in ep.counters) == (ep.trajectory.actions[-1] == "buy")


def test_report_success_at_k_ranks_like_the_planner():
    from arm_exp.stages.report import success_at_k
    from arm_exp.types import Candidate, Episode

    cands = [Candidate(0.55, 0.0, False, 5, -5.0), Candidate(0.5, 1.0, True, 1, -1.0)]
    traj = _traj(1, None)

    def episode(meta):
        return Episode("t", "b", "s", "t", "best_of_n", "p", "rm", traj, 1.0, True, 0.5, cands,
                       meta=meta)  # fmt: skip

    assert success_at_k([episode({})], 2)[0] == 0.0  # the scorer alone prefers the failure
    with_objective = episode({"objective": {"name": "fewer_actions", "weight": 0.1}})
    assert success_at_k([with_objective], 2)[0] == 1.0
