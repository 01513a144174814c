"""``plan_tasks``: many tasks at once give the episodes of one at a time; envs, errors, widths."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest

from arm_exp.agents.policy import RandomPolicy
from arm_exp.planning.best_of_n import BestOfNPlanner
from arm_exp.planning.mcts import MCTSPlanner
from arm_exp.planning.runner import default_concurrency, live_counters, plan_tasks
from tests.unit.test_planners import PrefixScorer, TreeEnv

TASKS = [f"t{k}" for k in range(6)]


class PooledEnv(TreeEnv):
    """A TreeEnv that records what ran on it; ``barrier`` holds each env's first task until
    that many envs are running one at once (so tasks really overlap)."""

    def __init__(self, pool: list[PooledEnv], barrier: threading.Barrier | None = None, cap=None):
        super().__init__()
        self.pool = pool
        self.barrier = barrier
        self.cap = cap
        self.tasks: list[str] = []
        self.forgets = 0
        self.forgot_after: list[int] = []  # tasks this env had run when it was told to forget
        self.threads: set[tuple[str, bool]] = set()  # (name, daemon) of the threads using it
        self.closed = False
        pool.append(self)

    def reset(self, task_id: str) -> str:
        thread = threading.current_thread()
        self.threads.add((thread.name, thread.daemon))
        if self.barrier is not None and not self.tasks:
            self.barrier.wait(timeout=30)
        if not self.tasks or self.tasks[-1] != task_id:
            self.tasks.append(task_id)
        return super().reset(task_id)

    def forget(self) -> None:
        self.forgets += 1
        self.forgot_after.append(len(self.tasks))

    def close(self) -> None:
        self.closed = True


class CappedEnv(PooledEnv):
    def max_parallel(self) -> int:
        return self.cap


def _summary(ep):
    return (ep.task_id, ep.trajectory.actions, ep.scorer_score, ep.counters)


def test_one_task_at_a_time_is_a_loop_on_one_env():
    pool: list[PooledEnv] = []
    planner = BestOfNPlanner(n=4, seed=2)
    done = list(
        plan_tasks(TASKS[:3], lambda: PooledEnv(pool), planner, RandomPolicy(), PrefixScorer())
    )
    assert [ep.task_id for ep in done] == TASKS[:3]
    assert len(pool) == 1 and pool[0].tasks == TASKS[:3] and pool[0].closed
    assert pool[0].forgot_after == [1, 2]  # before every task but the first
    assert all(ep.counters["rm_calls"] == 1 and ep.counters["env_steps"] > 0 for ep in done)


def test_tasks_at_once_give_the_episodes_of_one_at_a_time():
    planner = MCTSPlanner(rollouts=8, expansion=2, seed=5)
    alone: list[PooledEnv] = []
    seq = list(plan_tasks(TASKS, lambda: PooledEnv(alone), planner, RandomPolicy(), PrefixScorer()))
    pool: list[PooledEnv] = []
    barrier = threading.Barrier(3)
    par = list(
        plan_tasks(
            TASKS, lambda: PooledEnv(pool, barrier), planner, RandomPolicy(), PrefixScorer(), 3
        )
    )
    assert len(pool) == 3 and all(env.closed for env in pool)
    assert all(env.tasks for env in pool)  # the barrier let each env's first task through
    assert sorted(t for env in pool for t in env.tasks) == TASKS  # each task ran once
    assert [env.forgot_after for env in pool] == [list(range(1, len(env.tasks))) for env in pool]
    # each env is driven by its own daemon thread (an interrupted run does not wait for them)
    assert sorted(t for env in pool for t in env.threads) == [
        (f"plan-task-{k}", True) for k in range(3)
    ]
    assert sorted(map(_summary, par)) == sorted(map(_summary, seq))
    assert {ep.task_id for ep in par} == set(TASKS)
    # the runner's threads have ended with the generator
    deadline = time.monotonic() + 10
    while any(t.name.startswith("plan-task-") for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("wanted", "cap", "tasks", "width"), [(4, 2, 6, 2), (8, 99, 2, 2), (2, 99, 6, 2), (3, 3, 6, 3)]
)
def test_width_is_capped_by_memory_and_by_the_tasks(wanted, cap, tasks, width, caplog):
    pool: list[PooledEnv] = []
    planner = BestOfNPlanner(n=2)
    with caplog.at_level(logging.WARNING, logger="arm_exp.planning.runner"):
        done = list(
            plan_tasks(
                TASKS[:tasks],
                lambda: CappedEnv(pool, cap=cap),
                planner,
                RandomPolicy(),
                PrefixScorer(),
                wanted,
            )
        )
    assert len(done) == tasks and len(pool) == width and all(env.closed for env in pool)
    warned = [r.getMessage() for r in caplog.records]
    if cap < wanted:
        assert warned == [
            f"plan.concurrency={wanted}: only {cap} envs fit in memory now; using {cap}"
        ]
    else:
        assert warned == []


def test_an_env_cap_of_one_runs_in_the_calling_thread():
    pool: list[PooledEnv] = []
    caller = threading.current_thread()
    seen = []

    class Recording(BestOfNPlanner):
        def plan(self, task_id, env, policy, scorer):
            seen.append(threading.current_thread())
            return super().plan(task_id, env, policy, scorer)

    gen = plan_tasks(
        TASKS[:3], lambda: CappedEnv(pool, cap=1), Recording(n=2), RandomPolicy(), PrefixScorer(), 3
    )
    assert [ep.task_id for ep in gen] == TASKS[:3]
    assert seen == [caller] * 3 and len(pool) == 1


def test_an_env_without_forget_and_a_task_slower_than_the_poll():
    """Plain envs (no ``forget``) run task after task; a task that takes longer than the
    runner's 0.5 s poll of finished tasks is still waited for."""
    done = list(plan_tasks(TASKS[:2], TreeEnv, BestOfNPlanner(n=2), RandomPolicy(), PrefixScorer()))
    assert [ep.task_id for ep in done] == TASKS[:2]

    class Slow(BestOfNPlanner):
        def plan(self, task_id, env, policy, scorer):
            if task_id == "t1":
                time.sleep(0.7)
            return super().plan(task_id, env, policy, scorer)

    pool: list[PooledEnv] = []
    done = list(
        plan_tasks(TASKS[:2], lambda: PooledEnv(pool), Slow(n=2), RandomPolicy(), PrefixScorer(), 2)
    )
    assert sorted(ep.task_id for ep in done) == TASKS[:2]


def test_an_error_in_a_task_is_raised_and_stops_the_others():
    """Task t0 fails while t1 is still running on the other env; once the error reached the
    caller, the other env takes no new task."""
    pool: list[PooledEnv] = []
    release, started, planned = threading.Event(), threading.Event(), []

    class Failing(BestOfNPlanner):
        def plan(self, task_id, env, policy, scorer):
            planned.append(task_id)
            if task_id == "t0":
                started.wait(timeout=30)
                raise ValueError("the env broke on t0")
            started.set()
            release.wait(timeout=30)
            return super().plan(task_id, env, policy, scorer)

    gen = plan_tasks(
        TASKS, lambda: PooledEnv(pool), Failing(n=2), RandomPolicy(), PrefixScorer(), 2
    )
    with pytest.raises(ValueError, match="the env broke on t0"):
        next(gen)
    assert all(env.closed for env in pool) and len(pool) == 2
    release.set()
    deadline = time.monotonic() + 10
    while any(t.name.startswith("plan-task-") for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert sorted(planned) == ["t0", "t1"]


def test_stopping_early_closes_the_envs_and_nothing_is_built_for_no_tasks():
    pool: list[PooledEnv] = []
    gen = plan_tasks(TASKS, lambda: PooledEnv(pool), BestOfNPlanner(n=2), RandomPolicy(), None)
    with pytest.raises(Exception, match="needs a scorer"):
        next(gen)
    assert pool[0].closed
    pool.clear()
    gen = plan_tasks(TASKS, lambda: PooledEnv(pool), BestOfNPlanner(n=2), RandomPolicy(),
                     PrefixScorer(), 2)  # fmt: skip
    first = next(gen)
    assert first.task_id in TASKS and not any(env.closed for env in pool)
    gen.close()
    assert len(pool) == 2 and all(env.closed for env in pool)
    assert list(plan_tasks([], lambda: PooledEnv(pool), BestOfNPlanner(n=2), None, None)) == []
    assert len(pool) == 2  # no env built for no tasks
    with pytest.raises(ValueError, match=r"plan.concurrency=0: must be >= 1"):
        list(plan_tasks(TASKS, lambda: PooledEnv(pool), BestOfNPlanner(n=2), None, None, 0))


class Served:
    def __init__(self, width) -> None:
        self.in_flight_limit = width


class WithLLM:
    def __init__(self, llm) -> None:
        self.llm = llm

    def counters(self) -> dict[str, float]:
        return {}


def test_default_concurrency_is_the_widest_server_else_one():
    assert default_concurrency(WithLLM(Served(24)), WithLLM(Served(8))) == 24
    assert default_concurrency(WithLLM(Served(4)), WithLLM(Served(16))) == 16
    assert default_concurrency(WithLLM(Served(None)), None) == 1
    assert default_concurrency(WithLLM(object()), WithLLM(Served(0))) == 1
    assert default_concurrency(RandomPolicy(), PrefixScorer()) == 1


class Counting:
    def __init__(self, **counters: float) -> None:
        self.c = counters

    def counters(self) -> dict[str, float]:
        return dict(self.c)


def test_live_counters_show_tokens_rate_calls_and_reward_model_items():
    policy = Counting(completion_tokens=300.0, llm_calls=7.0, policy_calls=9.0)
    before = time.perf_counter()
    read = live_counters(policy, Counting(rm_items=41.0, rm_calls=3.0))
    time.sleep(0.05)
    got = read()
    took = time.perf_counter() - before
    assert set(got) == {"tok", "tok/s", "llm", "rm"}
    assert (got["tok"], got["llm"], got["rm"]) == (300, 7, 41)
    # tokens per second since the counters started: between 300 / took and 300 / 0.05
    assert re.fullmatch(r"\d+\.\d", got["tok/s"])
    assert 300 / took - 0.1 <= float(got["tok/s"]) <= 300 / 0.05 + 0.1
    policy.c["completion_tokens"] = 900.0
    assert read()["tok"] == 900
    assert live_counters(Counting(policy_calls=5.0), None)() == {"policy_calls": 5}
    assert live_counters(Counting(completion_tokens=2.0), None)()["llm"] == 0
    assert live_counters(Counting(), Counting(rm_items=2.0))() == {"rm": 2}
