"""Sampling: one trajectory at the policy's sampling temperature (no reward model)."""

from __future__ import annotations

from arm_exp.agents.base import Policy
from arm_exp.envs.base import Env
from arm_exp.planning.base import Meter, Scorer, candidate, make_episode
from arm_exp.planning.objectives import Objective
from arm_exp.rollout import EpisodeJob, derive_seed, run_cursors, start_cursor
from arm_exp.types import Episode


class SamplingPlanner:
    """One rollout at ``temperature``. A scorer, if given, only annotates the result.

    Args:
        temperature: sampling temperature (ARMAP: 0.7 Game of 24, 0.5 WebShop/ScienceWorld).
        max_steps: step cap per trajectory (the env has its own limit too).
        invalid_action_retries: re-proposals after an invalid action (cheap-snapshot envs).
        seed: base seed of the per-task random streams.
        objective: must be None: with one trajectory there is nothing to choose (the
            ``objective`` config group is for best_of_n, reflexion and mcts).
    """

    name = "sampling"
    uses_scorer = False  # `arm-exp plan` runs it without one (scorer=rm is not trained for it)

    def __init__(
        self,
        temperature: float = 0.7,
        max_steps: int = 100,
        invalid_action_retries: int = 0,
        seed: int = 0,
        objective: Objective | None = None,
    ) -> None:
        if objective is not None:
            raise ValueError(
                f"planner.objective={objective.name}: {self.name} commits to its only trajectory; "
                "a customizable reward target needs planner=best_of_n, reflexion or mcts"
            )
        self.temperature = temperature
        self.max_steps = max_steps
        self.invalid_action_retries = invalid_action_retries
        self.seed = seed

    def plan(self, task_id: str, env: Env, policy: Policy, scorer: Scorer | None) -> Episode:
        with Meter(env, policy, scorer) as meter:
            cursor = start_cursor(
                env, EpisodeJob(f"{task_id}/0", task_id, derive_seed(self.seed, self.name, task_id))
            )
            run_cursors(
                env, policy, [cursor], self.temperature, self.invalid_action_retries, self.max_steps
            )
            traj = cursor.trajectory
            value = scorer.score([traj.intent], [traj])[0] if scorer is not None else None
            return make_episode(self.name, task_id, traj, value, [candidate(traj, value)], meter)
