"""Best-of-N (ARMAP-B): sample N full trajectories, the scorer picks one."""

from __future__ import annotations

from arm_exp.agents.base import Policy
from arm_exp.envs.base import Env
from arm_exp.planning.base import Meter, Scorer, argmax, candidate, make_episode, require_scorer
from arm_exp.planning.objectives import Objective, planning_values
from arm_exp.rollout import EpisodeJob, derive_seed, fork_cursor, run_cursors, start_cursor
from arm_exp.types import Episode


class BestOfNPlanner:
    """N trajectories from one reset, scored in one batched call; the argmax is the answer.

    With an LLM policy the first step of all N samples is one ``generate(n=N)`` call (and for
    chain-of-thought benchmarks like Game of 24 that call writes the whole solutions). The
    episode also reports the oracle (any of the N succeeds) and the mean success of the N.

    Args:
        n: samples (ARMAP: 100 for Game of 24, 10 for WebShop/ScienceWorld).
        temperature: sampling temperature (ARMAP: 0.7 Game of 24).
        objective: a customizable reward target (:mod:`arm_exp.planning.objectives`): the pick is
            the argmax of score + weight * objective value. None: the scorer's argmax.
    """

    name = "best_of_n"
    uses_scorer = True
    iid_candidates = True  # independent samples: the report draws success vs N for them

    def __init__(
        self,
        n: int = 100,
        temperature: float = 0.7,
        max_steps: int = 100,
        invalid_action_retries: int = 0,
        seed: int = 0,
        objective: Objective | None = None,
    ) -> None:
        if n < 1:
            raise ValueError(f"planner.n={n}: must be >= 1")
        self.n = n
        self.temperature = temperature
        self.max_steps = max_steps
        self.invalid_action_retries = invalid_action_retries
        self.seed = seed
        self.objective = objective

    def plan(self, task_id: str, env: Env, policy: Policy, scorer: Scorer | None) -> Episode:
        scorer = require_scorer(self.name, scorer)
        with Meter(env, policy, scorer) as meter:
            root = start_cursor(
                env,
                EpisodeJob(f"{task_id}/root", task_id, derive_seed(self.seed, self.name, task_id)),
            )
            cursors = [
                fork_cursor(
                    root, env, f"{task_id}/{k}", derive_seed(self.seed, self.name, task_id, k)
                )
                for k in range(self.n)
            ]
            run_cursors(
                env, policy, cursors, self.temperature, self.invalid_action_retries, self.max_steps
            )
            trajs = [c.trajectory for c in cursors]
            values = scorer.score([t.intent for t in trajs], trajs)
            best = argmax(planning_values(values, trajs, self.objective))
            return make_episode(
                self.name,
                task_id,
                trajs[best],
                values[best],
                [candidate(t, v, self.objective) for t, v in zip(trajs, values, strict=True)],
                meter,
                objective=self.objective,
            )
