"""Agents (prompting + parsing for one benchmark) and policies (who chooses actions).

An :class:`Agent` turns the state of an episode into a prompt and parses a model's text into
actions; it knows one benchmark's format and nothing about models. A :class:`Policy` proposes
actions for a batch of episode contexts at once: :class:`~arm_exp.agents.policy.LLMPolicy`
(an LLM + an agent; one batched ``generate`` per call) or
:class:`~arm_exp.agents.policy.RandomPolicy` (uniform over valid actions).

A proposal may hold several actions when the model wrote several (Game of 24 chain-of-thought
writes all remaining steps in one go); callers execute them in order until one fails or the
episode ends, so a Best-of-N sample costs one generation, not one per step.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import Any, Protocol, runtime_checkable

from arm_exp.llm.base import Prompt
from arm_exp.types import Trajectory, shown_observations


@dataclass
class AgentContext:
    """What a policy sees of one running episode.

    ``valid_actions`` is a callable so the (possibly costly) list is only computed when a policy
    asks for it. ``rng`` is the episode's own random stream: results do not depend on how
    episodes are batched together.
    """

    intent: str
    trajectory: Trajectory
    valid_actions: Callable[[], list[str]]
    rng: random.Random
    reflections: list[str] = field(default_factory=list)


@dataclass
class Proposal:
    """Actions parsed from one model sample (or drawn by a random policy), in order."""

    actions: list[str]
    text: str = ""
    thought: str = ""


@runtime_checkable
class Agent(Protocol):
    """Prompt building and action parsing for one benchmark.

    ``parse`` gets untrusted model output and must never raise; it returns a proposal with no
    actions when nothing usable was found.
    """

    max_tokens: int
    stop: list[str] | None

    def prompt(self, ctx: AgentContext) -> Prompt: ...

    def parse(self, text: str) -> Proposal: ...


@runtime_checkable
class Policy(Protocol):
    """Proposes ``n`` proposals per context; ``temperature`` overrides the policy's default.

    One policy serves every task ``plan`` runs at once: it must be thread-safe, draw randomness
    only from the contexts' own streams (``ctx.rng``), and charge each call's cost to the
    calling task with :func:`arm_exp.tally.charge` (``llm_calls``, tokens, ``policy_calls``).
    """

    def propose(
        self, contexts: list[AgentContext], n: int = 1, temperature: float | None = None
    ) -> list[list[Proposal]]: ...

    def counters(self) -> dict[str, float]: ...

    def close(self) -> None:
        """Release what the policy holds (an LLM's managed server or engine)."""


def server_width(component: Any) -> int:
    """Requests the LLM servers behind a policy or scorer admit at once: an LLM's
    ``in_flight_limit`` (``llm.max_concurrency`` per server x its replicas) for a component with
    an ``llm``, summed over the ``policies`` of one that alternates several; 0 for an in-process
    model, a random policy or the oracle."""
    parts = getattr(component, "policies", None) or [component]
    return sum(int(getattr(getattr(p, "llm", None), "in_flight_limit", 0) or 0) for p in parts)


def reflection_prompt(intent: str, trajectory: Trajectory) -> Prompt:
    """The default Reflexion prompt: the failed attempt, then a request for a new plan.

    Agents may define their own ``reflection_prompt(intent, trajectory)``; this one works for any
    benchmark because it only uses the trajectory's actions and observations. The terminal
    observation (the environment's verdict: Game of 24's "Wrong answer", WebShop's score page)
    is never shown (:func:`~arm_exp.types.shown_observations`): ARMAP-R learns that an attempt
    failed from the reward model, not from the ground truth, and its reflection prompt shows no
    verdict either (``Eval/sciworld/agents/local_agent.py``).
    """
    lines = [f"Task: {intent}", trajectory.initial_observation, "", "Your attempt:"]
    for s, obs in zip(trajectory.steps, shown_observations(trajectory), strict=True):
        lines.append(f"Action: {s.action}")
        if obs:
            lines.append(f"Observation: {obs}")
    lines += [
        "",
        "The attempt did not accomplish the task. In two or three sentences, write "
        "'STATUS: FAIL' and then 'New plan:' followed by what to do differently next time.",
    ]
    return [{"role": "user", "content": "\n".join(lines)}]


def load_prompt(benchmark: str, name: str) -> Template:
    """A prompt template shipped in ``arm_exp/agents/prompts/<benchmark>/<name>.txt``."""
    text = resources.files("arm_exp.agents").joinpath(f"prompts/{benchmark}/{name}.txt")
    return Template(text.read_text(encoding="utf-8"))


def format_reflections(reflections: list[str]) -> str:
    if not reflections:
        return ""
    body = "\n".join(f"- {r.strip()}" for r in reflections)
    return f"\nREFLECTIONS FROM PREVIOUS ATTEMPTS:\n{body}\n"
