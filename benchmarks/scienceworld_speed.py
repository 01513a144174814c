"""ScienceWorld speed: JVM start, step time with and without the valid-action list, episode
load time, and the random explorer's mean score on the first N seen variations.

    .venv/bin/python benchmarks/scienceworld_speed.py [--variations 20] [--steps 300] [--tiny]

Step times are medians over random walks (``focus on`` excluded) on the first seen variations;
"wrapper" is the ``scienceworld`` package's own ``step``, which computes the valid actions,
the look-around and the inventory on every step.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from benchlib import result, tiny_arg

from arm_exp.agents.policy import RandomPolicy
from arm_exp.envs.scienceworld import ScienceWorldEnv
from arm_exp.rollout import EpisodeJob, Rollouts, derive_seed


def _walk(
    env: ScienceWorldEnv, tasks: list[str], steps: int, ask_valid: bool, seed: int
) -> list[float]:
    """Median-ready step times of a random walk; ``ask_valid`` adds valid_actions() per step."""
    rng = random.Random(seed)
    times: list[float] = []
    task_iter = iter(tasks * 100)
    done = True
    while len(times) < steps:
        if done:
            env.reset(next(task_iter))
        actions = [a for a in env.valid_actions() if not a.startswith("focus on")]
        action = rng.choice(actions) if actions else "look around"
        t = time.perf_counter()
        _, _, done, _ = env.step(action)
        if ask_valid:
            env.valid_actions()
        times.append(time.perf_counter() - t)
    return times


def _wrapper_steps(tasks: list[str], steps: int, seed: int) -> tuple[float, list[float]]:
    from scienceworld import ScienceWorldEnv as Wrapper

    t = time.perf_counter()
    w = Wrapper("", envStepLimit=10**6)
    start = time.perf_counter() - t
    rng = random.Random(seed)
    times: list[float] = []
    try:
        for task_id in tasks * 100:
            name, var = task_id.split("/")
            w.load(name, int(var), "easy")
            _, info = w.reset()
            valid = info["valid"]
            for _ in range(40):
                actions = [a for a in valid if not a.startswith("focus on")]
                t = time.perf_counter()
                _, _, done, info = w.step(rng.choice(actions))
                times.append(time.perf_counter() - t)
                valid = info["valid"]
                if done or len(times) >= steps:
                    break
            if len(times) >= steps:
                return start, times
    finally:
        w.close()
    return start, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variations", type=int, default=20)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    tiny_arg(ap)
    args = ap.parse_args()
    walk = 2 if args.tiny else 10  # variations the step times are measured on
    if args.tiny:
        args.variations, args.steps = 1, 4
    env = ScienceWorldEnv()
    seen = env.task_ids("seen")
    try:
        t = time.perf_counter()
        env.reset(seen[0])
        print(f"first reset (JVM start + load): {time.perf_counter() - t:.2f} s")
        jvm_start = env.counters()["jvm_start_s"]
        print(f"JVM start: {jvm_start:.2f} s")
        loads = []
        for task_id in seen[:walk]:
            t = time.perf_counter()
            env.reset(task_id)
            loads.append(time.perf_counter() - t)
        print(f"episode load (reused JVM), median: {statistics.median(loads) * 1e3:.1f} ms")
        fast = _walk(env, seen[:walk], args.steps, ask_valid=False, seed=args.seed)
        slow = _walk(env, seen[:walk], args.steps, ask_valid=True, seed=args.seed)
    finally:
        env.close()
    wrapper_start, wrapper = _wrapper_steps(seen[:walk], args.steps, args.seed)
    m_fast, m_slow, m_wrap = (statistics.median(x) * 1e3 for x in (fast, slow, wrapper))
    print(
        f"step, median: {m_fast:.2f} ms; with valid actions: {m_slow:.2f} ms "
        f"({m_slow / m_fast:.1f}x); scienceworld wrapper step: {m_wrap:.2f} ms "
        f"({m_wrap / m_fast:.1f}x); wrapper JVM start: {wrapper_start:.2f} s"
    )

    runner = Rollouts(
        ScienceWorldEnv, RandomPolicy(exclude=["^focus on "]), num_envs=1, max_steps=120
    )
    jobs = [
        EpisodeJob(t, t, derive_seed(args.seed, "explore", t, 0)) for t in seen[: args.variations]
    ]
    t = time.perf_counter()
    try:
        trajs = list(runner.run(jobs))
    finally:
        runner.close()
    wall = time.perf_counter() - t
    mean = statistics.fmean(tr.score for tr in trajs)
    steps = sum(len(tr.steps) for tr in trajs)
    print(
        f"random explorer, first {len(trajs)} seen variations: mean score {mean:.4f}, "
        f"success {sum(tr.success for tr in trajs)}/{len(trajs)}, {steps} steps in {wall:.1f} s"
    )
    result("scienceworld_jvm_start_s", jvm_start, "none", "s")
    result("scienceworld_step_ms", m_fast, "none", "ms")
    result("scienceworld_step_valid_actions_ratio", m_slow / m_fast, "none", "ratio")
    result("scienceworld_wrapper_step_ratio", m_wrap / m_fast, "none", "ratio")
    result("scienceworld_random_explorer_mean_score", mean, "none", "score")


if __name__ == "__main__":
    main()
