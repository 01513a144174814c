"""Reflexion (ARMAP-R): retry with self-reflections until the scorer says the attempt succeeded."""

from __future__ import annotations

from arm_exp.agents.base import Policy
from arm_exp.envs.base import Env
from arm_exp.planning.base import Meter, Scorer, argmax, candidate, make_episode, require_scorer
from arm_exp.planning.objectives import Objective, combine
from arm_exp.rollout import EpisodeJob, derive_seed, run_cursors, start_cursor
from arm_exp.types import Episode


class ReflexionPlanner:
    """Up to ``trials`` attempts. After each, the scorer scores the trajectory; at or above the
    threshold the search stops. Otherwise the policy LLM writes a reflection ("STATUS: FAIL /
    New plan: ...") that is prepended to the next attempt's prompt as "REFLECTIONS FROM PREVIOUS
    ATTEMPTS". The answer is the best-scored attempt (ARMAP's code returned the first or the
    last one: a bug we do not copy).

    The threshold is calibrated, not a raw logit: ``scorer.threshold(threshold_quantile,
    threshold_of)``; for the reward model, the quantile of its validation scores of negative (or
    positive) trajectories, stored in the checkpoint. Default: above 90% of known failures. The
    oracle's threshold is success itself. A random policy writes no reflections (it just retries).

    Args:
        trials: attempts at most (ARMAP: 10).
        temperature: sampling temperature of each attempt.
        threshold_quantile / threshold_of: the calibrated stopping bar.
        reflection_max_tokens: length of a reflection.
        objective: a customizable reward target (:mod:`arm_exp.planning.objectives`): the answer
            is the attempt with the best score + weight * objective value; stopping still asks
            the scorer alone whether an attempt succeeded.
    """

    name = "reflexion"
    uses_scorer = True

    def __init__(
        self,
        trials: int = 10,
        temperature: float = 0.7,
        threshold_quantile: float = 0.9,
        threshold_of: str = "negative",
        reflection_max_tokens: int = 128,
        max_steps: int = 100,
        max_retries: int = 0,
        seed: int = 0,
        objective: Objective | None = None,
    ) -> None:
        if trials < 1:
            raise ValueError(f"planner.trials={trials}: must be >= 1")
        if threshold_of not in ("negative", "positive"):
            raise ValueError(f"planner.threshold_of={threshold_of!r}: 'negative' or 'positive'")
        self.trials = trials
        self.temperature = temperature
        self.threshold_quantile = threshold_quantile
        self.threshold_of = threshold_of
        self.reflection_max_tokens = reflection_max_tokens
        self.max_steps = max_steps
        self.max_retries = max_retries
        self.seed = seed
        self.objective = objective

    def plan(self, task_id: str, env: Env, policy: Policy, scorer: Scorer | None) -> Episode:
        scorer = require_scorer(self.name, scorer)
        with Meter(env, policy, scorer) as meter:
            threshold = scorer.threshold(self.threshold_quantile, self.threshold_of)
            reflect = getattr(policy, "reflect", None)
            reflections: list[str] = []
            trajs, values = [], []
            stopped = False
            for k in range(self.trials):
                job = EpisodeJob(
                    f"{task_id}/{k}",
                    task_id,
                    derive_seed(self.seed, self.name, task_id, k),
                    reflections=list(reflections),
                )
                cursor = start_cursor(env, job)
                run_cursors(
                    env, policy, [cursor], self.temperature, self.max_retries, self.max_steps
                )
                traj = cursor.trajectory
                traj.meta["reflections"] = list(reflections)
                value = scorer.score([traj.intent], [traj])[0]
                trajs.append(traj)
                values.append(value)
                if value >= threshold:
                    stopped = True
                    break
                if callable(reflect) and k < self.trials - 1:
                    reflections.append(reflect(traj.intent, traj, self.reflection_max_tokens))
            best = argmax(combine(values, trajs, self.objective))
            return make_episode(
                self.name,
                task_id,
                trajs[best],
                values[best],
                [candidate(t, v, self.objective) for t, v in zip(trajs, values, strict=True)],
                meter,
                objective=self.objective,
                extra={
                    "trials": float(len(trajs)),
                    "stopped_at_threshold": float(stopped),
                    "threshold": threshold,
                },
                meta={"reflections": reflections},
            )
