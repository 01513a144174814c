"""The one renderer that turns (intent, trajectory) into reward-model input.

Training (``data.py``) and scoring (``scorer.py``) both call :class:`Renderer`, and its settings
are stored in the checkpoint, so a scorer always sees exactly what the model was trained on.

Layout follows ARMAP: the intent as the user turn, then the trajectory's turns (the agent's
thought and action as assistant turns, the environment's observations as user turns), then a
closing user turn asking whether the task was accomplished. The text comes in two parts:

- ``head``: the task (intent and first observation), kept from its start;
- ``tail``: the trajectory and the closing question, kept from its end when too long, because
  the final state decides success.

The terminal observation is never shown: it is the environment's verdict (WebShop's score page,
Game of 24's "Correct"), which a reward model must not read
(:func:`~arm_exp.types.shown_observations`, the rule every prompt built from a finished
trajectory shares). Benchmarks whose observations are
pure bookkeeping (Game of 24's remaining numbers, already in each action) set
``observations=False``, matching ARMAP's Game of 24 reward model, which reads the solution text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from arm_exp.types import Trajectory, shown_observations

CLOSING = "Does the agent's last response accomplish the task above? Answer yes or no."


@dataclass(frozen=True)
class Renderer:
    """Render (intent, trajectory) as ``(head, tail)`` text.

    Args:
        observations: include intermediate observations (never the terminal one).
        thoughts: include the agent's thoughts (ReAct) before each action.
        closing: the final question turn.
    """

    observations: bool = True
    thoughts: bool = True
    closing: str = CLOSING

    def render(self, intent: str, trajectory: Trajectory) -> tuple[str, str]:
        head = f"User: {intent.strip()}"
        first = trajectory.initial_observation.strip()
        if first:
            head += f"\n{first}"
        lines: list[str] = []
        shown = shown_observations(trajectory)  # the terminal observation (verdict) is ""
        for step, obs in zip(trajectory.steps, shown, strict=True):
            act = step.action.strip()
            if self.thoughts and step.thought.strip():
                act = f"Thought: {step.thought.strip()}\nAction: {act}"
            lines.append(f"Agent: {act}")
            if self.observations and obs.strip():
                lines.append(f"Observation: {obs.strip()}")
        lines.append(f"User: {self.closing}")
        return head, "\n".join(lines)

    def config(self) -> dict:
        return asdict(self)
