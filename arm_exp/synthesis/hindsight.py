"""Rule hindsight from the environment's state: the goal a trajectory achieved, by replay.

ARMAP's hindsight (``synthesis=llm``): an LLM reads a trajectory and writes the intent it
accomplished. Our LLM-free stand-in for benchmarks whose goals are conditions on the world's
state (ALFWorld's PDDL goals, ScienceWorld's object locations and device states):

1. replay the trajectory in the env and read the state after every step (``env.facts()``);
2. list the goals the benchmark's task language can state that hold in the final state and did
   not hold in the initial one (:meth:`StateHindsightKit.goals`, in the kit's preference order);
3. the intent is the goal achieved last (the latest first step at which it holds; ties: the
   kit's order), written in the benchmark's own wording; the positive is the trajectory cut at
   that step, as the env would have ended it had that been the task;
4. negatives: explored runs of the same task in which the goal never held (``natural``), and
   the positive cut 1..``max_truncations`` steps before the goal first held (``truncated``).

Positives and negatives are validated on the replayed states (the goal holds at the positive's
end and not at its start; it never holds along a negative). Replaying must reproduce the
recorded observations (up to word order: ScienceWorld lists a room's objects in no fixed order);
a trajectory that does not is dropped (``replay_mismatch``).

With ``intents: success`` the kit is the success-based :class:`ScoreRankedKit` (positives:
runs scoring at least ``min_positive_score``). Either way the ``llm`` strategy's intents and
negatives (ARMAP's prompts) are handled by :class:`ScoreRankedKit` as before: a positive whose
``meta`` carries no ``goal`` is validated by score.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from arm_exp.synthesis.ranked import ScoreRankedKit
from arm_exp.types import Step, Trajectory

INTENTS = ("state", "success")
CACHE_SIZE = 256  # replayed trajectories kept (synthesis walks the pool task by task)


class StateEnv(Protocol):
    def reset(self, task_id: str) -> str: ...

    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]: ...

    def facts(self) -> Any: ...


@dataclass(frozen=True)
class Goal:
    """A goal the benchmark's tasks can state: ``kind`` and ``args`` (the condition a kit's
    :meth:`StateHindsightKit.holds` checks) and ``text`` (the intent, in the benchmark's
    wording)."""

    kind: str
    args: tuple[str, ...]
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "args": list(self.args), "text": self.text}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Goal:
        return cls(str(d["kind"]), tuple(d["args"]), str(d["text"]))


def _same_text(a: str, b: str) -> bool:
    return sorted(a.split()) == sorted(b.split())


class StateHindsightKit(ScoreRankedKit):
    """Rule hindsight by replay (module docstring). Subclasses implement :meth:`goals` and
    :meth:`holds` over the states their env's ``facts()`` returns.

    Args:
        benchmark: whose LLM prompts to use (``synthesis/prompts/<benchmark>/``).
        env: the benchmark's env (``benchmark.env``), to replay trajectories in.
        intents: ``state`` (hindsight goals from the replayed state, the rule default) or
            ``success`` (runs scoring at least ``min_positive_score`` keep their own task).
        min_positive_score / margin / pairs: ``intents=success`` only (:class:`ScoreRankedKit`).
        max_truncations: truncated negatives cut 1..this many steps before the goal held.
        truncated_negatives: make truncated negatives.
    """

    def __init__(
        self,
        benchmark: str,
        env: StateEnv,
        intents: str = "state",
        min_positive_score: float = 0.5,
        margin: float = 0.1,
        max_truncations: int = 3,
        pairs: bool = False,
        truncated_negatives: bool = True,
    ) -> None:
        if intents not in INTENTS:
            raise ValueError(
                f"benchmark.synthesis_kit.intents={intents!r}: one of {', '.join(INTENTS)}"
            )
        super().__init__(
            benchmark,
            min_positive_score,
            margin,
            max_truncations,
            pairs,
            truncated_negatives,
        )
        self.env = env
        self.intents = intents
        self._states: OrderedDict[tuple[str, tuple[str, ...]], list[Any] | str] = OrderedDict()

    # -- what a subclass defines -----------------------------------------------------------
    def goals(self, trajectory: Trajectory, states: Sequence[Any]) -> list[Goal]:
        """Goals the final state may satisfy, most preferred first (filtered by the caller)."""
        raise NotImplementedError

    def holds(self, goal: Goal, state: Any) -> bool:
        raise NotImplementedError

    @property
    def drop_knobs(self) -> dict[str, str]:
        return {
            **super().drop_knobs,
            "no_state_change": (
                "the run achieved no goal the benchmark's tasks can state (it changed nothing "
                "they describe); explore more (explore.num_per_task, limit, longer runs) or "
                "benchmark.synthesis_kit.intents=success"
            ),
            "replay_mismatch": (
                "replaying the run in benchmark.env did not reproduce its observations (the "
                "explore run used other env settings?)"
            ),
            "negative_satisfies_intent": "explore more runs per task (explore.num_per_task)",
        }

    # -- replay ----------------------------------------------------------------------------
    def replay(self, task_id: str, steps: Sequence[Step]) -> list[Any] | str:
        """The state before the first step and after each step (cached, prefixes too), or
        ``replay_mismatch``."""
        actions = tuple(s.action for s in steps)
        key = (task_id, actions)
        if key in self._states:
            self._states.move_to_end(key)
            return self._states[key]
        for (task, done), states in self._states.items():
            if task == task_id and done[: len(actions)] == actions and not isinstance(states, str):
                return states[: len(actions) + 1]
        states = self._replay(task_id, steps)
        self._states[key] = states
        if len(self._states) > CACHE_SIZE:
            self._states.popitem(last=False)
        return states

    def _replay(self, task_id: str, steps: Sequence[Step]) -> list[Any] | str:
        self.env.reset(task_id)
        states = [self.env.facts()]
        for step in steps:
            obs, _, _, _ = self.env.step(step.action)
            if not _same_text(obs, step.observation):
                return "replay_mismatch"
            states.append(self.env.facts())
        return states

    def _first(self, goal: Goal, states: Sequence[Any]) -> int | None:
        return next((i for i, s in enumerate(states) if self.holds(goal, s)), None)

    # -- rule ------------------------------------------------------------------------------
    def hindsight(self, source: Trajectory) -> Trajectory | str:
        if self.intents == "success":
            return super().hindsight(source)
        if not source.steps:
            return "empty_trajectory"
        if source.meta.get("stop_reason") == "error":
            return "episode_error"
        states = self.replay(source.task_id, source.steps)
        if isinstance(states, str):
            return states
        best: tuple[int, Goal] | None = None
        for goal in self.goals(source, states):
            if not self.holds(goal, states[-1]) or self.holds(goal, states[0]):
                continue
            first = self._first(goal, states)
            assert first is not None and first > 0
            if best is None or first > best[0]:
                best = (first, goal)
        if best is None:
            return "no_state_change"
        first, goal = best
        steps = [replace(s) for s in source.steps[:first]]
        steps[-1].done = True
        return replace(
            source,
            intent=goal.text,
            initial_observation=source.initial_observation.replace(source.intent, goal.text),
            steps=steps,
            score=1.0,
            success=True,
            meta={
                **source.meta,
                "source": source.id,
                "hindsight": True,
                "original_intent": source.intent,
                "goal": goal.to_dict(),
            },
        )

    def _goal(self, positive: Trajectory) -> Goal | None:
        goal = positive.meta.get("goal")
        return Goal.from_dict(goal) if isinstance(goal, dict) else None

    def validate_positive(self, positive: Trajectory) -> str | None:
        goal = self._goal(positive)
        if goal is None:
            return super().validate_positive(positive)
        states = self.replay(positive.task_id, positive.steps)
        if isinstance(states, str):
            return states
        if not self.holds(goal, states[-1]) or self.holds(goal, states[0]):
            return "positive_check_failed"
        return None

    def validate_negative(self, positive: Trajectory, negative: Trajectory) -> str | None:
        goal = self._goal(positive)
        if goal is None:
            return super().validate_negative(positive, negative)
        if not negative.steps:
            return "empty_negative"
        if negative.actions == positive.actions:
            return "same_as_positive"
        states = self.replay(negative.task_id, negative.steps)
        if isinstance(states, str):
            return states
        if self._first(goal, states) is not None:
            return "negative_satisfies_intent"
        return None

    def _relabel(self, run: Trajectory, positive: Trajectory) -> Trajectory:
        """``run`` as an attempt at ``positive``'s intent (its first observation too)."""
        return replace(
            run,
            id=f"{positive.id}~natural:{run.id}",
            intent=positive.intent,
            initial_observation=run.initial_observation.replace(run.intent, positive.intent),
            score=0.0,
            success=False,
            meta={**run.meta, "negative_kind": "natural", "source": run.id},
        )

    def natural_negatives(
        self, positive: Trajectory, k: int, rng: random.Random
    ) -> list[Trajectory]:
        goal = self._goal(positive)
        if goal is None:
            return super().natural_negatives(positive, k, rng)
        if k <= 0:
            return []
        source_id = positive.meta.get("source", positive.id)
        pool = []
        for run in self._by_task.get(positive.task_id, []):
            if run.id == source_id or not run.steps or run.meta.get("stop_reason") == "error":
                continue
            states = self.replay(run.task_id, run.steps)
            if not isinstance(states, str) and self._first(goal, states) is None:
                pool.append(run)
        return [self._relabel(run, positive) for run in rng.sample(pool, min(k, len(pool)))]

    def rule_negative(
        self, positive: Trajectory, kind: str, rng: random.Random
    ) -> Trajectory | str:
        if self._goal(positive) is None or kind != "truncated":
            return super().rule_negative(positive, kind, rng)
        # The positive ends at the step the goal first held: every shorter prefix fails it.
        cut = rng.randint(1, self.max_truncations)
        if cut >= len(positive.steps):
            return "cannot_make_truncated"
        return replace(
            positive,
            id=f"{positive.id}~truncated{cut}",
            steps=[replace(s) for s in positive.steps[:-cut]],
            score=0.0,
            success=False,
            meta={"negative_kind": "truncated", "cut": cut, "source": positive.id},
        )
