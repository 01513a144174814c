"""Running episodes: cursors, batched proposals, and two ways to drive many episodes.

A :class:`Cursor` is one trajectory under construction: its agent context, the actions still to
execute from the last proposal, and (when several cursors share one env) the env snapshot of
its current state. Two drivers build on the same primitives (:func:`propose`, :func:`advance`):

- :class:`Rollouts`: many episodes in lock-step over a pool of envs (one env per cursor, reused
  across episodes through ``reset``); one batched policy call per tick. Used by ``explore``.
- :func:`run_cursors`: several cursors on *one* env, e.g. the N samples of Best-of-N. With a
  cheap ``snapshot/restore`` (``env.cheap_snapshot``) they advance in lock-step, one batched
  policy call per tick; otherwise each runs to the end in turn, restoring once.

Multi-action proposals (chain-of-thought) are executed one action per tick. Invalid proposals:
with ``invalid_action_retries > 0`` an action the env marks invalid is undone through ``snapshot``/
``restore``, recorded in ``meta["rejected"]`` and re-proposed, at most ``invalid_action_retries`` times in a
row; after that the invalid step stays in the trajectory, where the agent sees the env's error.
Nothing a model writes can crash a run.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from arm_exp.agents.base import AgentContext, Policy, Proposal
from arm_exp.envs.base import Env
from arm_exp.types import Step, Trajectory

log = logging.getLogger(__name__)

MAX_RAW_ACTION_CHARS = 300


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 63-bit seed from a base seed and ids (independent of Python's hash salt)."""
    h = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(h[:8], "big") >> 1


@dataclass
class EpisodeJob:
    """One episode to run: record id, task, its own random seed, extra metadata to keep."""

    id: str
    task_id: str
    seed: int
    meta: dict[str, Any] = field(default_factory=dict)
    reflections: list[str] = field(default_factory=list)


@dataclass
class Cursor:
    """A trajectory under construction (see the module docstring)."""

    ctx: AgentContext
    pending: deque[tuple[str, str]] = field(default_factory=deque)
    retries: int = 0
    snap: Any = None
    finished: bool = False

    @property
    def trajectory(self) -> Trajectory:
        return self.ctx.trajectory


def clean_info(info: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe part of an env's ``info`` dict, kept on each step."""
    return {k: v for k, v in info.items() if isinstance(v, str | int | float | bool | list | None)}


def start_cursor(env: Env, job: EpisodeJob) -> Cursor:
    """Reset ``env`` on the job's task and return a cursor at the initial state."""
    obs = env.reset(job.task_id)
    intent = env.intent()
    meta: dict[str, Any] = {"seed": job.seed}
    task_type = getattr(env, "task_type", None)
    if callable(task_type):
        meta["task_type"] = task_type(job.task_id)
    task_meta = getattr(env, "task_meta", None)
    if callable(task_meta):
        meta.update(task_meta(job.task_id))
    traj = Trajectory(
        id=job.id,
        benchmark=env.benchmark,
        task_id=job.task_id,
        intent=intent,
        initial_observation=obs,
        meta={**meta, **job.meta},
    )
    ctx = AgentContext(
        intent=intent,
        trajectory=traj,
        valid_actions=env.valid_actions,
        rng=random.Random(job.seed),
        reflections=list(job.reflections),
    )
    return Cursor(ctx=ctx, snap=env.snapshot())


def fork_cursor(cursor: Cursor, env: Env, new_id: str, seed: int) -> Cursor:
    """A copy of ``cursor`` (same state and steps) with its own id and random stream."""
    traj = copy.deepcopy(cursor.trajectory)
    traj.id = new_id
    traj.meta["seed"] = seed
    ctx = AgentContext(
        intent=cursor.ctx.intent,
        trajectory=traj,
        valid_actions=env.valid_actions,
        rng=random.Random(seed),
        reflections=list(cursor.ctx.reflections),
    )
    return Cursor(ctx=ctx, snap=cursor.snap)


def propose(policy: Policy, cursors: Sequence[Cursor], temperature: float | None) -> None:
    """One batched policy call for the cursors; their pending actions are filled."""
    proposals = policy.propose([c.ctx for c in cursors], n=1, temperature=temperature)
    for cursor, props in zip(cursors, proposals, strict=True):
        prop: Proposal = props[0]
        if prop.actions:
            cursor.pending.extend((a, prop.thought) for a in prop.actions)
        else:
            # Nothing parseable: hand the raw text (first line, capped) to the env, which
            # answers with an "invalid action" observation the agent can learn from.
            first = (prop.text or "").strip().splitlines()[:1]
            cursor.pending.append((first[0][:MAX_RAW_ACTION_CHARS] if first else "", prop.thought))


def advance(
    env: Env,
    cursor: Cursor,
    invalid_action_retries: int,
    max_steps: int,
    stats: dict[str, float] | None = None,
) -> bool:
    """Execute the cursor's next pending action on ``env`` (which must be at the cursor's state).

    Returns True when the episode is over (done, or ``max_steps`` reached); the trajectory's
    ``score``/``success`` then hold the benchmark's verdict (they track the score so far before).
    """
    traj = cursor.trajectory
    action, thought = cursor.pending.popleft()
    snap = env.snapshot() if invalid_action_retries > 0 else None
    obs, reward, done, info = env.step(action)
    if info.get("invalid") and not done and cursor.retries < invalid_action_retries:
        env.restore(snap)
        cursor.retries += 1
        cursor.pending.clear()
        if stats is not None:
            stats["rejected_actions"] = stats.get("rejected_actions", 0) + 1
        traj.meta.setdefault("rejected", []).append(
            {"step": len(traj.steps), "action": action, "observation": obs}
        )
        return False
    if info.get("invalid"):
        cursor.pending.clear()  # the rest of a proposal after a bad step is stale
    else:
        cursor.retries = 0
    traj.steps.append(Step(action, obs, float(reward), bool(done), thought, clean_info(info)))
    traj.score = float(info.get("score", traj.score))
    traj.success = bool(info.get("success", False))
    if done or len(traj.steps) >= max_steps:
        traj.meta["stop_reason"] = str(info.get("stop_reason") or ("done" if done else "max_steps"))
        if info.get("error"):  # the env had to abort the episode (its engine crashed)
            traj.meta["stop_reason"] = "error"
            traj.meta["error"] = str(info["error"])
        cursor.finished = True
        cursor.pending.clear()
    return cursor.finished


def _valid_actions_at(env: Env, cursor: Cursor) -> Callable[[], list[str]]:
    def valid_actions() -> list[str]:
        env.restore(cursor.snap)
        return env.valid_actions()

    return valid_actions


def run_cursors(
    env: Env,
    policy: Policy,
    cursors: Sequence[Cursor],
    temperature: float | None,
    invalid_action_retries: int = 0,
    max_steps: int = 100,
    stats: dict[str, float] | None = None,
) -> None:
    """Drive ``cursors`` (all on ``env``) until each is finished (see the module docstring)."""
    if getattr(env, "cheap_snapshot", False):
        # The cursors share one env, so each one's valid actions must be read at its own state:
        # a bare ``env.valid_actions`` would answer for whichever cursor moved last.
        for c in cursors:
            c.ctx.valid_actions = _valid_actions_at(env, c)
        while True:
            live = [c for c in cursors if not c.finished]
            if not live:
                return
            need = [c for c in live if not c.pending]
            if need:
                propose(policy, need, temperature)
            for c in live:
                env.restore(c.snap)
                advance(env, c, invalid_action_retries, max_steps, stats)
                c.snap = env.snapshot()
    for c in cursors:
        env.restore(c.snap)
        while not c.finished:
            if not c.pending:
                propose(policy, [c], temperature)
            advance(env, c, invalid_action_retries, max_steps, stats)
        c.snap = env.snapshot()


class Rollouts:
    """Lock-step episode runner over a pool of ``num_envs`` environments.

    Args:
        make_env: builds one environment (called up to ``num_envs`` times, lazily).
        policy: proposes actions for a batch of contexts.
        num_envs: episodes in flight at once (the batch size of each policy call).
        temperature: overrides the policy's sampling temperature (None keeps it).
        invalid_action_retries: re-proposals after an invalid action (needs cheap snapshot/restore).
        max_steps: safety cap on the steps of one episode (envs have their own limits).
    """

    def __init__(
        self,
        make_env: Callable[[], Env],
        policy: Policy,
        num_envs: int = 32,
        temperature: float | None = None,
        invalid_action_retries: int = 0,
        max_steps: int = 100,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs}: must be >= 1")
        self.make_env = make_env
        self.policy = policy
        self.num_envs = num_envs
        self.temperature = temperature
        self.invalid_action_retries = invalid_action_retries
        self.max_steps = max_steps
        self.envs: list[Env] = []
        self.stats: dict[str, float] = {
            "episodes": 0,
            "policy_calls": 0,
            "proposals": 0,
            "rejected_actions": 0,
        }

    def counters(self) -> dict[str, float]:
        """Runner stats plus the envs' own counters, summed over the pool."""
        out: dict[str, float] = dict(self.stats)
        for env in self.envs:
            for k, v in env.counters().items():
                out[k] = out.get(k, 0) + v
        return out

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def run(self, jobs: Iterable[EpisodeJob]) -> Iterator[Trajectory]:
        """Yield each finished episode's trajectory (in completion order)."""
        queue = iter(jobs)
        slots: list[tuple[Env, Cursor | None]] = []
        exhausted = False
        while True:
            if not exhausted:
                exhausted = self._fill(slots, queue)
            active = [(i, env, c) for i, (env, c) in enumerate(slots) if c is not None]
            if not active:
                return
            need = [c for _, _, c in active if not c.pending]
            if need:
                propose(self.policy, need, self.temperature)
                self.stats["policy_calls"] += 1
                self.stats["proposals"] += len(need)
            for i, env, c in active:
                if advance(env, c, self.invalid_action_retries, self.max_steps, self.stats):
                    slots[i] = (env, None)
                    yield c.trajectory

    def _cap_pool(self, env: Env) -> None:
        """Envs with a heavy engine (a JVM each) say how many fit in memory: no more than that."""
        max_parallel = getattr(env, "max_parallel", None)
        if callable(max_parallel):
            fit = int(max_parallel())
            if fit < self.num_envs:
                log.warning(
                    "num_envs=%d: only %d envs fit in memory now; using %d", self.num_envs, fit, fit
                )
                self.num_envs = fit

    def _fill(self, slots: list[tuple[Env, Cursor | None]], queue: Iterator[EpisodeJob]) -> bool:
        free: list[int | None] = [i for i, (_, c) in enumerate(slots) if c is None]
        free += [None] * (self.num_envs - len(slots))
        for i in free:
            if i is None and len(slots) >= self.num_envs:
                return False  # the pool was capped by the env's max_parallel()
            job = next(queue, None)
            if job is None:
                return True
            if i is None:
                env = self.make_env()
                if not self.envs:
                    self._cap_pool(env)
                self.envs.append(env)
                slots.append((env, start_cursor(env, job)))
            else:
                env = slots[i][0]
                slots[i] = (env, start_cursor(env, job))
            self.stats["episodes"] += 1
        return False
