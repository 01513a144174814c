"""Greedy: one trajectory at temperature 0 (no reward model)."""

from __future__ import annotations

from arm_exp.planning.objectives import Objective
from arm_exp.planning.sampling import SamplingPlanner


class GreedyPlanner(SamplingPlanner):
    """A single temperature-0 rollout; the baseline every paper table starts from."""

    name = "greedy"

    def __init__(
        self,
        max_steps: int = 100,
        invalid_action_retries: int = 0,
        seed: int = 0,
        objective: Objective | None = None,
    ) -> None:
        super().__init__(
            temperature=0.0,
            max_steps=max_steps,
            invalid_action_retries=invalid_action_retries,
            seed=seed,
            objective=objective,
        )
