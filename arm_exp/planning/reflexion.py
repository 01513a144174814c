"""Reflexion (ARMAP-R): retry with self-reflections until the scorer says the attempt succeeded."""

from __future__ import annotations

from arm_exp.agents.base import Policy
from arm_exp.envs.base import Env
from arm_exp.planning.base import Meter, Scorer, argmax, candidate, make_episode, require_scorer
from arm_exp.planning.objectives import Objective, planning_values
from arm_exp.rollout import EpisodeJob, derive_seed, run_cursors, start_cursor
from arm_exp.types import Episode, Trajectory

ANSWERS = ("last", "passing_else_first", "best")


class ReflexionPlanner:
    """Up to ``trials`` attempts. After each, the scorer scores the trajectory; when it clears
    the threshold the search stops. Otherwise the policy LLM writes a reflection ("STATUS: FAIL
    / New plan: ...", from the attempt without the env's verdict) that is prepended to the next
    attempt's prompt as "REFLECTIONS FROM PREVIOUS ATTEMPTS".

    The answer (``answer``), as ARMAP's code returns it by default (``Eval/sciworld/
    main_re.py:264-273``, ``Eval/game24/run_re.py:40-56``):

    - ``last``: the last attempt (ARMAP's Game of 24 and WebShop): the one that cleared the
      threshold if any did, else the tenth;
    - ``passing_else_first``: the attempt that cleared the threshold, else the first
      (ARMAP's ScienceWorld);
    - ``best``: the best-scored attempt (our option: it uses every score the search paid for).

    Attempts are greedy by default (``temperature`` 0, ARMAP's ``local_base.json``): they differ
    only through the reflections.

    The threshold: ``threshold`` (a raw score, cleared when strictly above, as ARMAP's
    ``score > 7.25`` / ``> 0``) or, when None, calibrated: ``scorer.threshold(threshold_quantile,
    threshold_of)``, cleared at or above; for the reward model the quantile of its validation
    scores of negative (or positive) trajectories stored in the checkpoint (default: above 90% of
    known failures). The oracle's calibrated threshold is success itself. A random policy writes
    no reflections (it just retries).

    Args:
        trials: attempts at most (ARMAP: 10).
        temperature: sampling temperature of each attempt (ARMAP: 0).
        answer: ``last`` | ``passing_else_first`` | ``best`` (above).
        threshold: a raw stopping score (None: calibrated).
        threshold_quantile / threshold_of: the calibrated stopping bar.
        reflection_max_tokens: length of a reflection.
        objective: a customizable reward target (:mod:`arm_exp.planning.objectives`): with
            ``answer=best`` the answer is the attempt with the best score + weight * objective
            value; stopping still asks the scorer alone whether an attempt succeeded.
    """

    name = "reflexion"
    uses_scorer = True

    def __init__(
        self,
        trials: int = 10,
        temperature: float = 0.0,
        answer: str = "last",
        threshold: float | None = None,
        threshold_quantile: float = 0.9,
        threshold_of: str = "negative",
        reflection_max_tokens: int = 128,
        max_steps: int = 100,
        invalid_action_retries: int = 0,
        seed: int = 0,
        objective: Objective | None = None,
    ) -> None:
        if trials < 1:
            raise ValueError(f"planner.trials={trials}: must be >= 1")
        if threshold_of not in ("negative", "positive"):
            raise ValueError(f"planner.threshold_of={threshold_of!r}: 'negative' or 'positive'")
        if answer not in ANSWERS:
            raise ValueError(f"planner.answer={answer!r}: one of {', '.join(ANSWERS)}")
        if objective is not None and answer != "best":
            raise ValueError(
                f"planner.objective with planner.answer={answer}: a customizable reward target "
                "ranks the trials, so it needs planner.answer=best (ARMAP's rules return a "
                "fixed trial)"
            )
        self.trials = trials
        self.temperature = temperature
        self.answer = answer
        self.threshold = threshold
        self.threshold_quantile = threshold_quantile
        self.threshold_of = threshold_of
        self.reflection_max_tokens = reflection_max_tokens
        self.max_steps = max_steps
        self.invalid_action_retries = invalid_action_retries
        self.seed = seed
        self.objective = objective

    def _pick(self, values: list[float], trajs: list[Trajectory], stopped: bool) -> int:
        if self.answer == "best":
            return argmax(planning_values(values, trajs, self.objective))
        if self.answer == "last" or stopped:
            return len(trajs) - 1  # with passing_else_first: the passing attempt is the last
        return 0

    def plan(self, task_id: str, env: Env, policy: Policy, scorer: Scorer | None) -> Episode:
        scorer = require_scorer(self.name, scorer)
        with Meter(env, policy, scorer) as meter:
            raw = self.threshold is not None
            threshold = (
                float(self.threshold)  # type: ignore[arg-type]
                if raw
                else scorer.threshold(self.threshold_quantile, self.threshold_of)
            )
            reflect = getattr(policy, "reflect", None)
            reflections: list[str] = []
            trajs: list[Trajectory] = []
            values: list[float] = []
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
                    env,
                    policy,
                    [cursor],
                    self.temperature,
                    self.invalid_action_retries,
                    self.max_steps,
                )
                traj = cursor.trajectory
                traj.meta["reflections"] = list(reflections)
                value = scorer.score([traj.intent], [traj])[0]
                trajs.append(traj)
                values.append(value)
                if value > threshold or (not raw and value == threshold):
                    stopped = True
                    break
                if callable(reflect) and k < self.trials - 1:
                    reflections.append(reflect(traj.intent, traj, self.reflection_max_tokens))
            best = self._pick(values, trajs, stopped)
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
                    "answer_trial": float(best),
                },
                meta={"reflections": reflections},
            )
