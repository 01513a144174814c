"""Run many episodes in lock-step so the policy is called once per step for all of them.

Each active episode holds an env from a fixed pool (envs are reused across episodes through
``reset``: a ScienceWorld JVM is started once per slot, not once per episode). At every tick the
episodes without pending actions get one batched ``policy.propose`` call; multi-action proposals
(chain-of-thought) are executed one action per tick.

Invalid proposals: with ``max_retries > 0`` an action the env marks invalid is undone through
``snapshot``/``restore`` (cheap envs only), recorded in ``meta["rejected"]`` and re-proposed, at
most ``max_retries`` times in a row; after that the invalid step stays in the trajectory, where
the agent sees the env's error message. Nothing a model writes can crash the run.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
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
class _Slot:
    env: Env
    job: EpisodeJob | None = None
    ctx: AgentContext | None = None
    pending: deque[tuple[str, str]] = field(default_factory=deque)
    retries: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def clean_info(info: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe part of an env's ``info`` dict, kept on each step."""
    return {k: v for k, v in info.items() if isinstance(v, str | int | float | bool | list | None)}


class Rollouts:
    """Lock-step episode runner over a pool of ``num_envs`` environments.

    Args:
        make_env: builds one environment (called ``num_envs`` times, lazily).
        policy: proposes actions for a batch of contexts.
        num_envs: episodes in flight at once (the batch size of each policy call).
        temperature: overrides the policy's sampling temperature (None keeps it).
        max_retries: re-proposals after an invalid action (needs cheap snapshot/restore).
        max_steps: safety cap on the steps of one episode (envs have their own limits).
    """

    def __init__(
        self,
        make_env: Callable[[], Env],
        policy: Policy,
        num_envs: int = 32,
        temperature: float | None = None,
        max_retries: int = 0,
        max_steps: int = 100,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs}: must be >= 1")
        self.make_env = make_env
        self.policy = policy
        self.num_envs = num_envs
        self.temperature = temperature
        self.max_retries = max_retries
        self.max_steps = max_steps
        self.envs: list[Env] = []
        self.stats = {"episodes": 0, "policy_calls": 0, "proposals": 0, "rejected_actions": 0}

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
        slots: list[_Slot] = []
        exhausted = False
        while True:
            if not exhausted:
                exhausted = self._fill(slots, queue)
            active = [s for s in slots if s.job is not None]
            if not active:
                return
            need = [s for s in active if not s.pending]
            if need:
                self._propose(need)
            for slot in active:
                traj = self._advance(slot)
                if traj is not None:
                    yield traj

    def _fill(self, slots: list[_Slot], queue: Iterator[EpisodeJob]) -> bool:
        for slot in [s for s in slots if s.job is None] + [None] * (self.num_envs - len(slots)):
            if slot is None and len(slots) >= self.num_envs:
                return False  # the pool was capped by the env's max_parallel()
            job = next(queue, None)
            if job is None:
                return True
            if slot is None:
                env = self.make_env()
                if not self.envs:
                    self._cap_pool(env)
                self.envs.append(env)
                slot = _Slot(env)
                slots.append(slot)
            self._start(slot, job)
        return False

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

    def _start(self, slot: _Slot, job: EpisodeJob) -> None:
        obs = slot.env.reset(job.task_id)
        intent = slot.env.intent()
        meta: dict[str, Any] = {"seed": job.seed}
        task_type = getattr(slot.env, "task_type", None)
        if callable(task_type):
            meta["task_type"] = task_type(job.task_id)
        task_meta = getattr(slot.env, "task_meta", None)
        if callable(task_meta):
            meta.update(task_meta(job.task_id))
        traj = Trajectory(
            id=job.id,
            benchmark=slot.env.benchmark,
            task_id=job.task_id,
            intent=intent,
            initial_observation=obs,
            meta={**meta, **job.meta},
        )
        slot.job = job
        slot.ctx = AgentContext(
            intent=intent,
            trajectory=traj,
            valid_actions=slot.env.valid_actions,
            rng=random.Random(job.seed),
            reflections=list(job.reflections),
        )
        slot.pending.clear()
        slot.retries = 0
        slot.info = {}
        self.stats["episodes"] += 1

    def _propose(self, need: list[_Slot]) -> None:
        proposals = self.policy.propose(
            [s.ctx for s in need if s.ctx is not None], n=1, temperature=self.temperature
        )
        self.stats["policy_calls"] += 1
        for slot, props in zip(need, proposals, strict=True):
            prop: Proposal = props[0]
            self.stats["proposals"] += 1
            if prop.actions:
                slot.pending.extend((a, prop.thought) for a in prop.actions)
            else:
                # Nothing parseable: hand the raw text (first line, capped) to the env, which
                # answers with an "invalid action" observation the agent can learn from.
                first = (prop.text or "").strip().splitlines()[:1]
                slot.pending.append(
                    (first[0][:MAX_RAW_ACTION_CHARS] if first else "", prop.thought)
                )

    def _advance(self, slot: _Slot) -> Trajectory | None:
        assert slot.ctx is not None and slot.job is not None
        traj = slot.ctx.trajectory
        action, thought = slot.pending.popleft()
        snap = slot.env.snapshot() if self.max_retries > 0 else None
        obs, reward, done, info = slot.env.step(action)
        if info.get("invalid") and not done and slot.retries < self.max_retries:
            slot.env.restore(snap)
            slot.retries += 1
            slot.pending.clear()
            self.stats["rejected_actions"] += 1
            traj.meta.setdefault("rejected", []).append(
                {"step": len(traj.steps), "action": action, "observation": obs}
            )
            return None
        if info.get("invalid"):
            slot.pending.clear()  # the rest of a proposal after a bad step is stale
        else:
            slot.retries = 0
        traj.steps.append(Step(action, obs, float(reward), bool(done), thought, clean_info(info)))
        slot.info = info
        if not done and len(traj.steps) < self.max_steps:
            return None
        traj.score = float(info.get("score", 0.0))
        traj.success = bool(info.get("success", False))
        traj.meta["stop_reason"] = "done" if done else "max_steps"
        if info.get("error"):
            traj.meta["stop_reason"] = "error"
            traj.meta["error"] = str(info["error"])
        slot.job, slot.ctx = None, None
        slot.pending.clear()
        return traj
