"""Customizable reward targets (ARMAP section 4.3): the scorer's score plus a chosen objective.

At planning time a planner that picks among candidates (Best-of-N, Reflexion, MCTS) ranks them by

    planning value = scorer score + weight * objective.value(trajectory)

where ``objective.value`` is higher for what the user prefers (fewer actions, a lower price). It
is chosen with the ``objective`` config group, which fills ``planner.objective``
(``arm-exp plan ... objective=fewer_actions planner.objective.weight=0.2``); the default is no
objective: the pure scorer score, as in the paper's main results. Greedy and sampling commit to
their only trajectory and refuse an objective.

Reported separately: ``Episode.scorer_score`` stays the scorer's own score of the pick and
``Candidate.objective`` holds each candidate's objective value; the episode's counters add
``objective_value`` and ``planning_value`` of the pick. Whatever the objective, every episode
measures the picked trajectory (:func:`measure`): ``actions`` (its number of actions) and, where
it bought something (WebShop), ``price_paid``; so a run with an objective and one without
compare side by side in ``metrics.json`` (``plan/<split>/actions``, ``.../price_paid``) and in
the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from arm_exp.types import Trajectory

# The env's info key for the price of a purchase (WebShop's done step).
PRICE_KEY = "purchased_price"


@runtime_checkable
class Objective(Protocol):
    """A user-chosen planning target. ``value(trajectory)`` is higher for a preferred trajectory,
    in the objective's own units; ``weight`` converts one unit into scorer-score units."""

    name: str
    weight: float

    def value(self, trajectory: Trajectory) -> float: ...


def planning_values(
    scores: Sequence[float], trajectories: Sequence[Trajectory], objective: Objective | None
) -> list[float]:
    """The planning values: ``scores`` alone without an objective, else score + weight * value."""
    if objective is None:
        return [float(s) for s in scores]
    return [
        float(s) + objective.weight * objective.value(t)
        for s, t in zip(scores, trajectories, strict=True)
    ]


def price_paid(trajectory: Trajectory) -> float | None:
    """The price of what the trajectory bought (its last step's ``purchased_price``), or None."""
    if not trajectory.steps:
        return None
    price = trajectory.steps[-1].info.get(PRICE_KEY)
    return None if price is None else float(price)


def measure(trajectory: Trajectory) -> dict[str, float]:
    """What the objectives target, measured on a trajectory (for every planner's episodes), and
    both readings of the score where the env gives them (ScienceWorld: ``max_score``, the
    running max ARMAP reports, and ``final_score``, the score at the end)."""
    out = {"actions": float(len(trajectory.steps))}
    price = price_paid(trajectory)
    if price is not None:
        out["price_paid"] = price
    if trajectory.steps:
        for key in ("max_score", "final_score"):
            value = trajectory.steps[-1].info.get(key)
            if value is not None:
                out[key] = float(value)
    return out


class FewerActions:
    """Prefer shorter trajectories: ``value = -(number of actions)``.

    Args:
        weight: scorer-score units per action saved (default 0.1: ten actions weigh as much as
            one unit of the reward model's score).
    """

    name = "fewer_actions"

    def __init__(self, weight: float = 0.1) -> None:
        if weight < 0:
            raise ValueError(f"planner.objective.weight={weight}: must be >= 0")
        self.weight = weight

    def value(self, trajectory: Trajectory) -> float:
        return -float(len(trajectory.steps))


class LowerPrice:
    """Prefer cheaper purchases (WebShop): ``value = -(price paid) / scale``.

    A trajectory that bought nothing counts as paying ``unpurchased_price``, so the objective
    never makes not buying look attractive (WebShop scores a missing purchase 0).

    Args:
        weight: scorer-score units per ``scale`` dollars saved.
        scale: dollars per unit of value (default 100).
        unpurchased_price: the price charged to a trajectory without a purchase (default $1000).
    """

    name = "lower_price"

    def __init__(
        self, weight: float = 1.0, scale: float = 100.0, unpurchased_price: float = 1000.0
    ) -> None:
        if weight < 0 or scale <= 0:
            raise ValueError(
                f"planner.objective: weight={weight} must be >= 0 and scale={scale} > 0"
            )
        self.weight = weight
        self.scale = scale
        self.unpurchased_price = unpurchased_price

    def value(self, trajectory: Trajectory) -> float:
        price = price_paid(trajectory)
        return -(self.unpurchased_price if price is None else price) / self.scale
