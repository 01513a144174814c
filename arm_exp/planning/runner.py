"""Planning many tasks at once: :func:`plan_tasks`, its default width, live counters.

A planner works on one task at a time and, inside it, sends one request at a time (MCTS,
Reflexion, greedy) or N (Best-of-N). A server (vLLM) only reaches its throughput with many
requests in flight, so :func:`plan_tasks` runs up to ``concurrency`` tasks at once, each in its
own thread on its own env (envs are not thread-safe; heavy read-only state such as WebShop's
catalog and search index is shared by the envs of a process, and a ScienceWorld JVM per env is
capped by ``env.max_parallel()``), all sharing one policy and one scorer. The policy's LLM
client keeps the requests of all tasks in flight; in-process models merge concurrent calls into
batches (``hf_local``, ``vllm_engine``, the reward scorer). Episodes come back as tasks finish;
the stage's resumable store puts them back in task order.

Results do not depend on ``concurrency``: every random stream is the task's own (planner seeds
derive from the task id, the policy's from each episode's random stream, the judge's from its
prompt), per-episode costs are counted per task (:class:`~arm_exp.planning.base.Meter`), an env
forgets the tasks it ran before (``env.forget()``: ScienceWorld starts a fresh JVM), and the
reward model's forward passes are a call's own unless ``merge_calls`` is set. What can differ is
float rounding in an in-process model whose calls were merged with other tasks' (its outputs
depend in the last bits on the batch's shape): an in-process LLM merges concurrent calls, which
is why the in-process default is 1 (:func:`default_concurrency`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

from arm_exp.agents.base import Policy, server_width
from arm_exp.envs.base import Env
from arm_exp.planning.base import Planner, Scorer
from arm_exp.types import Episode

log = logging.getLogger(__name__)


def plan_tasks(
    todo: Sequence[str],
    make_env: Callable[[], Env],
    planner: Planner,
    policy: Policy,
    scorer: Scorer | None,
    concurrency: int = 1,
) -> Generator[Episode, None, None]:
    """Plan every task of ``todo``; yield each episode as soon as its task finishes.

    Up to ``concurrency`` tasks run at once, each on an env of its own (built by ``make_env``,
    at most ``concurrency`` of them, fewer if ``env.max_parallel()`` says fewer fit in memory),
    and all share ``policy`` and ``scorer``. With one task at a time everything runs in the
    calling thread, as a plain loop. The envs are closed when the generator ends (also when
    the caller stops early or an error is raised). An error in a task stops the others from
    taking new tasks and is raised here, in the caller's thread.
    """
    if concurrency < 1:
        raise ValueError(f"plan.concurrency={concurrency}: must be >= 1")
    todo = list(todo)
    if not todo:
        return
    envs = [make_env()]
    try:
        width = min(concurrency, len(todo), _fits(envs[0], concurrency))
        if width == 1:
            for k, task_id in enumerate(todo):
                yield _plan_one(planner, task_id, envs[0], policy, scorer, fresh=k == 0)
            return
        envs += [make_env() for _ in range(width - 1)]
        yield from _threaded(todo, envs, planner, policy, scorer)
    finally:
        for env in envs:
            env.close()


def _fits(env: Env, wanted: int) -> int:
    """How many envs like ``env`` fit in memory (a JVM each for ScienceWorld)."""
    max_parallel = getattr(env, "max_parallel", None)
    if not callable(max_parallel):
        return wanted
    fit = int(max_parallel())
    if fit < wanted:
        log.warning(
            "plan.concurrency=%d: only %d envs fit in memory now; using %d", wanted, fit, fit
        )
    return fit


def _threaded(
    todo: list[str], envs: list[Env], planner: Planner, policy: Policy, scorer: Scorer | None
) -> Iterator[Episode]:
    tasks: queue.SimpleQueue[str] = queue.SimpleQueue()
    for task_id in todo:
        tasks.put(task_id)
    done: queue.SimpleQueue[tuple[Episode | None, BaseException | None] | None] = (
        queue.SimpleQueue()
    )
    stop = threading.Event()

    def work(env: Env) -> None:
        fresh = True
        try:
            while not stop.is_set():
                try:
                    task_id = tasks.get_nowait()
                except queue.Empty:
                    return
                done.put((_plan_one(planner, task_id, env, policy, scorer, fresh), None))
                fresh = False
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            done.put((None, e))
        finally:
            done.put(None)

    # Daemon threads: an interrupted run (Ctrl-C, SIGTERM) exits without waiting for the tasks
    # in flight; only the caller's thread writes the store, so nothing is torn.
    threads = [
        threading.Thread(target=work, args=(env,), name=f"plan-task-{k}", daemon=True)
        for k, env in enumerate(envs)
    ]
    for t in threads:
        t.start()
    live = len(threads)
    try:
        while live:
            try:
                item = done.get(timeout=0.5)  # a timeout keeps Ctrl-C responsive
            except queue.Empty:
                continue
            if item is None:
                live -= 1
                continue
            episode, error = item
            if error is not None:
                raise error
            assert episode is not None
            yield episode
    finally:
        stop.set()


def _plan_one(
    planner: Planner, task_id: str, env: Env, policy: Policy, scorer: Scorer | None, fresh: bool
) -> Episode:
    """One task; an env that ran another task first forgets it (``env.forget()``, if it has
    one), so the episode does not depend on which tasks shared its env."""
    forget = getattr(env, "forget", None)
    if not fresh and callable(forget):
        forget()
    return planner.plan(task_id, env, policy, scorer)


def default_concurrency(policy: Policy, scorer: Scorer | None) -> int:
    """Tasks at once when ``plan.concurrency`` is null: enough to fill an LLM server.

    The policy's or the judge's LLM behind a server (``openai_server``: vLLM, ``serve-llm``)
    answers up to its ``in_flight_limit`` requests at once (``llm.max_concurrency`` per server
    x the replicas) and each task has about one in
    flight (MCTS, Reflexion and greedy send one at a time), so that many tasks. Otherwise 1:
    an in-process model on CPU is compute-bound (batching the calls of several tasks speeds it
    up less than it costs in reproducibility: merged batches change the logits' last bits), a
    random policy and the oracle gain nothing from threads (Python holds the GIL), and one task
    at a time is what a run without a server has always done.
    """
    return max(1, server_width(policy), server_width(scorer))


def live_counters(policy: Policy, scorer: Scorer | None) -> Callable[[], dict[str, Any]]:
    """Live counters for a progress line while tasks run (``collect``'s ``heartbeat``): tokens
    generated and their rate, LLM or policy calls, reward-model items."""
    t0 = time.perf_counter()

    def read() -> dict[str, Any]:
        c = dict(policy.counters())
        if scorer is not None:
            c.update(scorer.counters())
        out: dict[str, Any] = {}
        if "completion_tokens" in c:
            tokens = float(c["completion_tokens"])
            out["tok"] = int(tokens)
            out["tok/s"] = f"{tokens / max(time.perf_counter() - t0, 1e-9):.1f}"
            out["llm"] = int(c.get("llm_calls", 0))
        elif "policy_calls" in c:
            out["policy_calls"] = int(c["policy_calls"])
        if "rm_items" in c:
            out["rm"] = int(c["rm_items"])
        return out

    return read
