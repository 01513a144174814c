"""Planners: ``plan(task_id, env, policy, scorer) -> Episode``.

A planner produces one :class:`~arm_exp.types.Episode` per task: the trajectory it commits to,
judged by the benchmark (``score``/``success``), with the scorer's opinion (``scorer_score``),
the candidates it considered and what it cost. Planners work with any policy (LLM or random)
and any scorer:

- ``rm``: the trained reward model (:class:`~arm_exp.reward.scorer.RewardScorer`);
- ``oracle``: the environment's own score (an upper bound for the reward model);
- ``policy_judge``: the policy LLM rates its own trajectory (the paper's ablation);
- ``none``: no scorer (greedy and sampling only).

Every scorer has ``score(intents, trajectories) -> list[float]``, ``counters()``,
``threshold(quantile, of)``: a calibrated "looks successful" bar for Reflexion, and
``unit(scores)``: its scores mapped into [0, 1], increasing (the reward model through its
validation scores' CDF), for MCTS, whose discounted backup needs values that cannot be negative.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from arm_exp.agents.base import Policy
from arm_exp.envs.base import Env
from arm_exp.planning.objectives import Objective, measure
from arm_exp.types import Candidate, Episode, Trajectory


@runtime_checkable
class Scorer(Protocol):
    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]: ...

    def counters(self) -> dict[str, float]: ...

    def threshold(self, quantile: float, of: str = "negative") -> float: ...

    def unit(self, scores: Sequence[float]) -> list[float]: ...


@runtime_checkable
class Planner(Protocol):
    """``name`` labels its episodes; ``uses_scorer`` False (greedy, sampling) makes
    ``arm-exp plan`` run it without a scorer, whatever ``scorer=`` says."""

    name: str
    uses_scorer: bool

    def plan(self, task_id: str, env: Env, policy: Policy, scorer: Scorer | None) -> Episode: ...


class PlanningError(RuntimeError):
    pass


def require_scorer(planner: str, scorer: Scorer | None) -> Scorer:
    if scorer is None:
        raise PlanningError(
            f"planner={planner} needs a scorer: pass scorer=rm rm_ckpt=PATH, scorer=oracle or scorer=policy_judge"
        )
    return scorer


class Meter:
    """Per-episode costs: deltas of the env's, policy's and scorer's cumulative counters."""

    KEYS = {
        "env_steps": ("env", "env_steps"),
        "llm_calls": ("policy", "llm_calls"),
        "completion_tokens": ("policy", "completion_tokens"),
        "policy_calls": ("policy", "policy_calls"),
        "rm_calls": ("scorer", "rm_calls"),
        "rm_items": ("scorer", "rm_items"),
        "rm_cache_hits": ("scorer", "rm_cache_hits"),
        "replayed_steps": ("env", "replayed_steps"),
    }

    def __init__(self, env: Env, policy: Policy, scorer: Scorer | None) -> None:
        self.sources: dict[str, Any] = {"env": env, "policy": policy, "scorer": scorer}
        self.start = self._read()
        self.t0 = time.perf_counter()

    def _read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, (src, key) in self.KEYS.items():
            obj = self.sources[src]
            if obj is not None:
                c = obj.counters()
                if key in c:
                    out[name] = float(c[key])
        return out

    def counters(self) -> dict[str, float]:
        now = self._read()
        return {k: now[k] - self.start.get(k, 0.0) for k in now}

    def wall_s(self) -> float:
        return time.perf_counter() - self.t0


def candidate(
    traj: Trajectory, scorer_score: float | None, objective: Objective | None = None
) -> Candidate:
    return Candidate(
        scorer_score=scorer_score,
        score=traj.score,
        success=traj.success,
        num_steps=len(traj.steps),
        objective=None if objective is None else objective.value(traj),
    )


def make_episode(
    planner: str,
    task_id: str,
    chosen: Trajectory,
    chosen_score: float | None,
    candidates: list[Candidate],
    meter: Meter,
    extra: dict[str, float] | None = None,
    meta: dict[str, Any] | None = None,
    objective: Objective | None = None,
) -> Episode:
    """The episode of a plan; ``chosen_score`` is the scorer's own score of ``chosen``. With an
    ``objective`` the counters also carry its value and the planning value of the pick (and
    ``meta["objective"]`` its name and weight); every episode measures the pick (``actions``,
    ``price_paid``: :func:`~arm_exp.planning.objectives.measure`)."""
    counters = meter.counters()
    if candidates:
        counters["n_candidates"] = float(len(candidates))
        counters["oracle_success"] = float(any(c.success for c in candidates))
        counters["mean_success"] = sum(c.success for c in candidates) / len(candidates)
    counters.update(measure(chosen))
    meta = dict(meta or {})
    if objective is not None:
        value = objective.value(chosen)
        counters["objective_value"] = value
        if chosen_score is not None:
            counters["planning_value"] = chosen_score + objective.weight * value
        meta["objective"] = {"name": objective.name, "weight": objective.weight}
    counters.update(extra or {})
    return Episode(
        id=task_id,
        benchmark=chosen.benchmark,
        split="",
        task_id=task_id,
        planner=planner,
        policy="",
        scorer="",
        trajectory=chosen,
        score=chosen.score,
        success=chosen.success,
        scorer_score=chosen_score,
        candidates=candidates,
        counters=counters,
        wall_s=meter.wall_s(),
        meta=meta,
    )


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value; the first one on ties."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best
