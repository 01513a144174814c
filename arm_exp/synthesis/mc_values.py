"""The ``mc_values`` strategy: step-level labels by Monte Carlo rollouts (beyond ARMAP).

For each explored trajectory, some of its prefixes (``prefixes_per_trajectory`` of its step
counts 1..L, seeded per trajectory; None: all of them) are labelled with the Monte Carlo value
of their last step, as AgentPRM and Math-Shepherd do: the env is reset on the task, the
prefix's actions are replayed (a replay whose observations differ from the recorded ones is
dropped as ``replay_mismatch``), and the exploring policy runs ``continuations`` episodes from
that state to their end; the label is the share that succeed. A prefix where the episode ended
(or that already has the episode's ``max_steps`` steps) is labelled with its own outcome, 0 or
1, with no rollout (``meta["exact"]``). The records are :class:`~arm_exp.types.ValueLabel`
lines (``values.jsonl``), which only a pointwise loss (``loss=prm_bce|prm_mse``) trains on.

With a weak exploring policy most labels are 0; ``arm-exp synthesize`` reports the share of
non-zero labels (``synth/nonzero_share``).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from typing import Any

from arm_exp.agents.base import AgentContext, Policy
from arm_exp.envs.base import Env
from arm_exp.rollout import (
    Cursor,
    EpisodeJob,
    advance,
    derive_seed,
    fork_cursor,
    run_cursors,
    start_cursor,
)
from arm_exp.synthesis.base import SourceResult
from arm_exp.types import Trajectory, ValueLabel


def prefix_lengths(n_steps: int, k: int | None, rng: random.Random) -> list[int]:
    """``k`` distinct step counts among 1..``n_steps`` (all of them for None or k >= n), in
    increasing order."""
    every = list(range(1, n_steps + 1))
    if k is None or k >= n_steps:
        return every
    return sorted(rng.sample(every, k))


class MCValueSynthesizer:
    """Monte Carlo values of explored prefixes (see the module docstring).

    Args:
        env: the benchmark's env (one; continuations share it through snapshot/restore).
        policy: the exploring policy (``${explorer}``) that runs the continuations.
        continuations: K, rollouts per prefix.
        prefixes_per_trajectory: prefixes labelled per explored trajectory (None: all).
        temperature: the continuations' sampling temperature (None: the policy's own).
        max_steps: an episode's step cap, prefix included (the benchmark's ``max_steps``).
        seed: base seed; each (trajectory, prefix, continuation) gets its own stream.
        batch_size: sources per call (the stage's unit of resumption).
    """

    strategy = "mc_values"
    records = "values"  # what it writes: ValueLabel lines, not triplets

    def __init__(
        self,
        env: Env,
        policy: Policy,
        continuations: int = 8,
        prefixes_per_trajectory: int | None = None,
        temperature: float | None = None,
        max_steps: int = 100,
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        if continuations < 1:
            raise ValueError(f"synthesis.continuations={continuations}: must be >= 1")
        if prefixes_per_trajectory is not None and prefixes_per_trajectory < 1:
            raise ValueError(
                f"synthesis.prefixes_per_trajectory={prefixes_per_trajectory}: must be >= 1 "
                "(null: every prefix)"
            )
        self.env = env
        self.policy = policy
        self.continuations = continuations
        self.prefixes_per_trajectory = prefixes_per_trajectory
        self.temperature = temperature
        self.max_steps = max_steps
        self.seed = seed
        self.batch_size = batch_size
        self._counters = {"rollouts": 0.0, "rollout_steps": 0.0, "exact_labels": 0.0}

    def prepare(self, trajectories: Sequence[Trajectory]) -> None:
        """Nothing to see ahead: each trajectory is labelled on its own."""

    def synthesize(self, batch: Sequence[Trajectory]) -> list[SourceResult]:
        return [self._one(s) for s in batch]

    def _one(self, source: Trajectory) -> SourceResult:
        res = SourceResult(source.id)
        if not source.steps:
            res.drop("empty_trajectory")
            return res
        if source.meta.get("stop_reason") == "error":
            res.drop("episode_error")
            return res
        rng = random.Random(derive_seed(self.seed, self.strategy, source.id))
        lengths = prefix_lengths(len(source.steps), self.prefixes_per_trajectory, rng)
        states = self._replay(source, lengths[-1])
        if states is None:
            res.drop("replay_mismatch")
            return res
        for t in lengths:
            label = self._label(source, states, t)
            res.values.append(label)
            res.keep("nonzero" if label.value > 0 else "zero")
        return res

    def _replay(self, source: Trajectory, upto: int) -> list[tuple[Trajectory, Any, bool]] | None:
        """(trajectory so far, env snapshot, finished) after each of the first ``upto`` steps of
        ``source`` replayed on the env, or None if the env answers otherwise than it did."""
        cursor = start_cursor(self.env, EpisodeJob(source.id, source.task_id, 0))
        if cursor.trajectory.initial_observation != source.initial_observation:
            return None
        states = []
        for step in source.steps[:upto]:
            cursor.pending.append((step.action, step.thought))
            advance(self.env, cursor, 0, self.max_steps)
            if cursor.trajectory.steps[-1].observation != step.observation:
                return None
            states.append((copy.deepcopy(cursor.trajectory), self.env.snapshot(), cursor.finished))
        return states

    def _label(
        self, source: Trajectory, states: list[tuple[Trajectory, Any, bool]], t: int
    ) -> ValueLabel:
        traj, snap, finished = states[t - 1]
        prefix = copy.deepcopy(traj)
        prefix.id = f"{source.id}@{t}"
        prefix.meta = {**source.meta, "prefix_of": source.id}
        meta: dict[str, Any] = {"source": source.id, "prefix_steps": t}
        if finished:
            value = 1.0 if prefix.success else 0.0
            meta.update(exact=True, continuations=0, successes=int(value))
            self._counters["exact_labels"] += 1
        else:
            state = Cursor(
                ctx=AgentContext(source.intent, traj, self.env.valid_actions, random.Random(0)),
                snap=snap,
            )
            forks = [
                fork_cursor(
                    state,
                    self.env,
                    f"{prefix.id}/{k}",
                    derive_seed(self.seed, self.strategy, source.id, t, k),
                )
                for k in range(self.continuations)
            ]
            run_cursors(self.env, self.policy, forks, self.temperature, 0, self.max_steps)
            wins = sum(c.trajectory.success for c in forks)
            value = wins / self.continuations
            meta.update(exact=False, continuations=self.continuations, successes=wins)
            self._counters["rollouts"] += self.continuations
            self._counters["rollout_steps"] += sum(len(c.trajectory.steps) - t for c in forks)
        return ValueLabel(
            id=prefix.id,
            benchmark=source.benchmark,
            intent=source.intent,
            prefix=prefix,
            value=value,
            meta=meta,
        )

    def counters(self) -> dict[str, float]:
        return {**self._counters, **{f"policy/{k}": v for k, v in self.policy.counters().items()}}

    def close(self) -> None:
        self.policy.close()
        self.env.close()
