"""Step-level beam search (beyond ARMAP: AgentRM's and AgentPRM's search with a process reward
model).

From the task's start, each step: every live beam gets ``expansions`` proposals from the policy
(one batched call for all beams); each distinct first action of a beam's proposals is taken
from the beam's state (restored from its snapshot: one env step per child; the rest of a
multi-action proposal is dropped, the search is step by step); every child is scored in one
call (a partial trajectory as a prefix: the outcome reward model on partial trajectories, a
process reward model, the policy as judge, or Game of 24's prefix oracle); the ``width``
best-scored children (ties: in proposal order) are kept. A kept child whose episode ended (the
env's done, or ``max_steps``) retires with its score; the search ends when no beam is live, and
the answer is the best-scored retired trajectory (the first one on ties). Every retired
trajectory is a candidate of the episode; ``meta["beams"]`` lists the actions of the beams
kept at each step.

Its cost is counted as every planner's is (``proposals``, ``policy_calls``, ``rm_calls``,
``env_steps``): ``width * expansions`` proposals per step at most, so a search of ``d`` steps
asks for about as many proposals as Best-of-N with ``N = width * expansions`` samples of ``d``
steps.
"""

from __future__ import annotations

from collections.abc import Callable

from arm_exp.agents.base import Policy
from arm_exp.envs.base import Env
from arm_exp.planning.base import Meter, Scorer, argmax, candidate, make_episode, require_scorer
from arm_exp.rollout import (
    MAX_RAW_ACTION_CHARS,
    Cursor,
    EpisodeJob,
    advance,
    derive_seed,
    fork_cursor,
    start_cursor,
)
from arm_exp.types import Episode, Trajectory


class BeamSearchPlanner:
    """Args:
    width: W, beams kept per step.
    expansions: K, proposals per live beam per step.
    temperature: the proposals' sampling temperature.
    max_steps: an episode's step cap (the benchmark's).
    seed: base seed; each child draws its own stream from it, the task and its place.
    """

    name = "beam_search"
    uses_scorer = True

    def __init__(
        self,
        width: int = 4,
        expansions: int = 4,
        temperature: float = 0.7,
        max_steps: int = 100,
        seed: int = 0,
    ) -> None:
        if width < 1 or expansions < 1:
            raise ValueError(
                f"planner.width={width}, planner.expansions={expansions}: both must be >= 1"
            )
        self.width = width
        self.expansions = expansions
        self.temperature = temperature
        self.max_steps = max_steps
        self.seed = seed

    def _children(
        self, env: Env, policy: Policy, beams: list[Cursor], task_id: str, depth: int
    ) -> list[Cursor]:
        """Each beam's distinct proposed next actions, taken (beams in order, then proposals)."""
        for b in beams:
            b.ctx.valid_actions = _valid_actions_at(env, b)
        proposals = policy.propose(
            [b.ctx for b in beams], n=self.expansions, temperature=self.temperature
        )
        children = []
        for i, (beam, props) in enumerate(zip(beams, proposals, strict=True)):
            seen: set[str] = set()
            for prop in props:
                if prop.actions:
                    action = prop.actions[0]
                else:
                    first = (prop.text or "").strip().splitlines()[:1]
                    action = first[0][:MAX_RAW_ACTION_CHARS] if first else ""
                if action in seen:
                    continue
                seen.add(action)
                k = len(seen) - 1
                child = fork_cursor(
                    beam,
                    env,
                    f"{task_id}/d{depth}b{i}k{k}",
                    derive_seed(self.seed, self.name, task_id, depth, i, k),
                )
                child.pending.append((action, prop.thought))
                env.restore(beam.snap)
                advance(env, child, 0, self.max_steps)
                child.snap = env.snapshot()
                children.append(child)
        return children

    def plan(self, task_id: str, env: Env, policy: Policy, scorer: Scorer | None) -> Episode:
        scorer = require_scorer(self.name, scorer)
        with Meter(env, policy, scorer) as meter:
            root = start_cursor(
                env,
                EpisodeJob(f"{task_id}/beam", task_id, derive_seed(self.seed, self.name, task_id)),
            )
            beams = [root]
            retired: list[tuple[float, Trajectory]] = []
            kept: list[list[list[str]]] = []
            scored = 0
            while beams:
                children = self._children(env, policy, beams, task_id, len(kept))
                scores = scorer.score(
                    [c.ctx.intent for c in children], [c.trajectory for c in children]
                )
                scored += len(children)
                order = sorted(range(len(children)), key=lambda j: -scores[j])[: self.width]
                kept.append([children[j].trajectory.actions for j in order])
                beams = []
                for j in order:
                    if children[j].finished:
                        retired.append((scores[j], children[j].trajectory))
                    else:
                        beams.append(children[j])
            best = argmax([s for s, _ in retired])
            return make_episode(
                self.name,
                task_id,
                retired[best][1],
                retired[best][0],
                [candidate(t, s) for s, t in retired],
                meter,
                extra={"beam_steps": float(len(kept)), "scored_children": float(scored)},
                meta={"beams": kept},
            )


def _valid_actions_at(env: Env, cursor: Cursor) -> Callable[[], list[str]]:
    """The valid actions at the beam's own state: the beams share one env."""

    def valid_actions() -> list[str]:
        env.restore(cursor.snap)
        return env.valid_actions()

    return valid_actions
