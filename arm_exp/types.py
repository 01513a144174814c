"""Records that flow between stages: Step, Trajectory, Triplet, ValueLabel, Episode.

Plain dataclasses with a lossless JSON round trip (``from_dict(to_dict(x)) == x``). Every
artifact line in ``trajectories.jsonl``, ``triplets.jsonl``, ``values.jsonl`` and
``episodes.jsonl`` is one of these, serialized with :func:`to_json`. Only JSON types go into ``info``/``meta``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Step:
    """One agent action and what the environment answered.

    ``reward`` is the increment of the benchmark score caused by this step (the sum over a
    trajectory is its final score); ``thought`` holds the agent's reasoning text if any.
    """

    action: str
    observation: str
    reward: float = 0.0
    done: bool = False
    thought: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(**d)


@dataclass
class Trajectory:
    """A run of an agent on one task: the goal it was run for, the first observation, the steps.

    ``intent`` is the natural-language task the agent was given; synthesis may relabel a copy
    with a hindsight intent. ``score`` is the benchmark's own metric at the end, in [0, 1];
    ``success`` is the benchmark's success criterion.
    """

    id: str
    benchmark: str
    task_id: str
    intent: str
    initial_observation: str
    steps: list[Step] = field(default_factory=list)
    score: float = 0.0
    success: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def actions(self) -> list[str]:
        return [s.action for s in self.steps]

    @property
    def last_observation(self) -> str:
        return self.steps[-1].observation if self.steps else self.initial_observation

    @property
    def done(self) -> bool:
        return bool(self.steps) and self.steps[-1].done

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trajectory:
        d = dict(d)
        d["steps"] = [Step.from_dict(s) for s in d.get("steps", [])]
        return cls(**d)


@dataclass
class Triplet:
    """A reward-model training example: for ``intent``, ``positive`` should outscore ``negative``."""

    id: str
    benchmark: str
    intent: str
    positive: Trajectory
    negative: Trajectory
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Triplet:
        d = dict(d)
        d["positive"] = Trajectory.from_dict(d["positive"])
        d["negative"] = Trajectory.from_dict(d["negative"])
        return cls(**d)


@dataclass
class ValueLabel:
    """A process-reward example: a trajectory prefix and the Monte Carlo value of its last step
    (``synthesis=mc_values``): the share of ``meta["continuations"]`` runs of the exploring
    policy from the prefix's state that succeeded, or the prefix's own outcome (0 or 1) when the
    episode ended there (``meta["exact"]``). ``value`` is in [0, 1]."""

    id: str
    benchmark: str
    intent: str
    prefix: Trajectory
    value: float
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValueLabel:
        d = dict(d)
        d["prefix"] = Trajectory.from_dict(d["prefix"])
        return cls(**d)


@dataclass
class Candidate:
    """One trajectory a planner considered, summarised: its scorer value and the true outcome.

    ``objective`` is the value of the planner's objective (``planner.objective``) for it, if one
    was set; the planner ranked candidates by ``scorer_score + weight * objective``."""

    scorer_score: float | None
    score: float
    success: bool
    num_steps: int
    objective: float | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Candidate:
        return cls(**d)


@dataclass
class Episode:
    """The outcome of planning on one task: the chosen trajectory and what it cost.

    ``score``/``success`` are the benchmark's metric for the chosen trajectory (never the
    scorer's opinion, which is ``scorer_score``). ``counters`` holds per-episode costs such as
    ``llm_calls``, ``rm_calls``, ``rm_cache_hits`` and ``env_steps``.
    """

    id: str
    benchmark: str
    split: str
    task_id: str
    planner: str
    policy: str
    scorer: str
    trajectory: Trajectory
    score: float
    success: bool
    scorer_score: float | None = None
    candidates: list[Candidate] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Episode:
        d = dict(d)
        d["trajectory"] = Trajectory.from_dict(d["trajectory"])
        d["candidates"] = [Candidate.from_dict(c) for c in d.get("candidates", [])]
        return cls(**d)


def shown_observations(trajectory: Trajectory) -> list[str]:
    """Each step's observation as a prompt built from a *finished* trajectory may show it: the
    terminal one (the done step's, or the last step's when the run was cut off) is ``""``.

    The terminal observation is the environment's verdict (Game of 24's "Wrong answer: ...",
    WebShop's score page, ScienceWorld's completion message); whatever judges or learns from a
    trajectory (the reward model's renderer, the Reflexion prompt, the policy-as-judge prompt,
    the synthesis prompts) must judge it from what the agent did, as ARMAP's reward model and
    reflections do. This is the one rule they all share.
    """
    last = len(trajectory.steps) - 1
    return [
        "" if (step.done or i == last) else step.observation
        for i, step in enumerate(trajectory.steps)
    ]


Record = Step | Trajectory | Triplet | ValueLabel | Episode


def to_dict(record: Record) -> dict[str, Any]:
    """The record as plain JSON-able dicts and lists."""
    return asdict(record)


def to_json(record: Record) -> str:
    """One JSONL line (no trailing newline); keys keep field order so files diff cleanly."""
    return json.dumps(asdict(record), ensure_ascii=False)
