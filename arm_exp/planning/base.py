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
A scorer (like a policy) is shared by every task ``plan`` runs at once, so it must be thread-safe
and charge what each call costs to the calling task with :func:`arm_exp.tally.charge`
(``rm_calls``, ``rm_items``, ...): the per-episode counters are what was charged (see
:class:`Meter`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from arm_exp import tally
from arm_exp.agents.base import Policy
from arm_exp.envs.base import Env
from arm_exp.errors import ConfigError
from arm_exp.planning.objectives import Objective, measure
from arm_exp.tally import Tally
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
    ``arm-exp plan`` run it without a scorer, whatever ``scorer=`` says. Optional:
    ``iid_candidates = True`` where the episode's candidates are independent samples (Best-of-N),
    so ``arm-exp report`` draws success vs N for it (absent: False)."""

    name: str
    uses_scorer: bool

    def plan(self, task_id: str, env: Env, policy: Policy, scorer: Scorer | None) -> Episode: ...


class PlanningError(ConfigError):
    """A planner cannot plan with the policy or scorer it was given."""


def require_scorer(planner: str, scorer: Scorer | None) -> Scorer:
    if scorer is None:
        raise PlanningError(
            f"planner={planner} needs a scorer: pass scorer=rm rm_ckpt=PATH, scorer=oracle or scorer=policy_judge"
        )
    return scorer


class Meter:
    """Per-episode costs of one task, correct when several tasks share the policy and scorer.

    A context manager: planners run a task inside ``with Meter(env, policy, scorer) as meter``
    and build the episode (:func:`make_episode`) before it closes. Inside, the task's own
    :func:`arm_exp.tally.scope` collects what the shared policy and scorer charge for this
    task's calls (LLM calls and tokens, policy calls, reward-model calls, items and repeats,
    judge calls), however many other tasks run beside it. The env is the task's alone while it
    runs, so its costs (env steps, replayed steps) are deltas of its counters.

    An episode reports the :attr:`KEYS` its sources count (a random policy has no LLM calls),
    zero when the task made no such call.
    """

    KEYS = {
        "env_steps": "env",
        "replayed_steps": "env",
        "llm_calls": "policy",
        "prompt_tokens": "policy",
        "completion_tokens": "policy",
        "policy_calls": "policy",
        "proposals": "policy",
        "rm_calls": "scorer",
        "rm_items": "scorer",
        "rm_cache_hits": "scorer",
        "judge_llm_calls": "scorer",
        "judge_completion_tokens": "scorer",
    }

    def __init__(self, env: Env, policy: Policy, scorer: Scorer | None) -> None:
        self.env = env
        sources: dict[str, Any] = {"env": env, "policy": policy, "scorer": scorer}
        counted = {name: set(obj.counters()) for name, obj in sources.items() if obj is not None}
        self.keys = [k for k, src in self.KEYS.items() if k in counted.get(src, ())]
        self._scope: Any = None
        self._tally: Tally | None = None
        self.start: dict[str, float] = {}
        self.t0 = 0.0

    def __enter__(self) -> Meter:
        self._scope = tally.scope()
        self._tally = self._scope.__enter__()
        self.start = {k: float(v) for k, v in self.env.counters().items()}
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._scope.__exit__(*exc)

    def counters(self) -> dict[str, float]:
        if self._tally is None:
            raise RuntimeError("Meter.counters() outside `with Meter(...)`")
        charged = self._tally.counts()
        env_now = self.env.counters()
        out = {}
        for k in self.keys:
            if self.KEYS[k] == "env":
                out[k] = float(env_now[k]) - self.start.get(k, 0.0)
            else:
                out[k] = charged.get(k, 0.0)
        return out

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
