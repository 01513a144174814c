"""Env step latency: Game of 24 (pure Python), ScienceWorld with and without valid actions,
WebShop search and click.

    .venv/bin/python benchmarks/env_step.py [--reps 5] [--game24-episodes 2000] [--sw-steps 40]
                                            [--skip scienceworld,webshop] [--tiny]

- **Game of 24**: random walks over the valid actions of the train puzzles are recorded once,
  then replayed on a fresh env in two modes: ``parse`` (the actions come as text, as from an LLM:
  ``step`` parses them; what planners with an LLM policy pay) and ``valid_actions`` (the env's
  successor list is computed before every step, as a random policy does). Steps/s counts every
  ``step`` and charges the ``reset`` of each episode to it; "steps/cpu-s" divides by the
  process's CPU time instead of wall time, which a shared, oversubscribed CPU disturbs less.
  Target: >= 50,000 steps/s (parse).
- **ScienceWorld** (real engine, Java): random walks (``focus on`` excluded) over the first 10
  seen variations; per-step latency of ``step`` alone and of ``step`` + ``valid_actions()`` (the
  reference computes the valid actions at every step). Target: step alone >= 4x faster.
- **WebShop** (bundled mini catalog): latency of ``search[...]`` (uncached query) and of clicks.

Blocks of each mode alternate (interleaved repetitions); the table shows medians over them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from benchlib import interleaved, result, table, tiny_arg

from arm_exp.envs.game24 import Game24Env


# -- Game of 24 ------------------------------------------------------------------------------
def record_game24(n_episodes: int, seed: int) -> list[tuple[str, list[str]]]:
    env = Game24Env()
    tasks = env.task_ids("train")
    rng = random.Random(seed)
    episodes = []
    for k in range(n_episodes):
        task = tasks[k % len(tasks)]
        env.reset(task)
        actions, done = [], False
        while not done:
            action = rng.choice(env.valid_actions())
            actions.append(action)
            _, _, done, _ = env.step(action)
        episodes.append((task, actions))
    return episodes


def game24_runner(episodes: list[tuple[str, list[str]]], ask_valid: bool):
    n_steps = sum(len(a) for _, a in episodes)

    def run() -> tuple[int, float]:
        env = Game24Env()
        cpu = time.process_time()
        for task, actions in episodes:
            env.reset(task)
            for a in actions:
                if ask_valid:
                    env.valid_actions()
                env.step(a)
        return n_steps, time.process_time() - cpu

    return run


def bench_game24(args: argparse.Namespace) -> tuple[list[list], list[tuple]]:
    episodes = record_game24(args.game24_episodes, args.seed)
    runs = interleaved(
        {
            "parse": game24_runner(episodes, ask_valid=False),
            "valid_actions": game24_runner(episodes, ask_valid=True),
        },
        args.reps,
    )
    rows, results = [], []
    for mode, reps in runs.items():
        med = statistics.median(n / s for s, (n, _) in reps)
        cpu = statistics.median(n / c for _, (n, c) in reps)
        rows.append(
            ["game24", mode, f"{1e6 / med:.2f} us", f"{med:,.0f}", f"{cpu:,.0f}", len(reps)]
        )
        name = f"env_step_game24_{mode}"
        results.append((name, med, 50000 if mode == "parse" else "none", "steps/s"))
        results.append((f"{name}_cpu", cpu, 50000 if mode == "parse" else "none", "steps/cpu_s"))
    return rows, results


# -- ScienceWorld ----------------------------------------------------------------------------
def bench_scienceworld(args: argparse.Namespace) -> tuple[list[list], list[tuple]]:
    from arm_exp.envs.scienceworld import ScienceWorldEnv

    env = ScienceWorldEnv()
    tasks = env.task_ids("seen")[:10]
    rng = random.Random(args.seed)
    state = {"done": True, "task": 0}

    def block(ask_valid: bool):
        def run() -> list[float]:
            times = []
            while len(times) < args.sw_steps:
                if state["done"]:
                    env.reset(tasks[state["task"] % len(tasks)])
                    state["task"] += 1
                acts = [a for a in env.valid_actions() if not a.startswith("focus on")]
                action = rng.choice(acts) if acts else "look around"
                t = time.perf_counter()
                _, _, done, _ = env.step(action)
                if ask_valid:
                    env.valid_actions()
                times.append(time.perf_counter() - t)
                state["done"] = done
            return times

        return run

    try:
        runs = interleaved({"step": block(False), "step+valid_actions": block(True)}, args.reps)
    finally:
        env.close()
    med = {m: statistics.median(t for _, ts in reps for t in ts) for m, reps in runs.items()}
    rows = [
        ["scienceworld", m, f"{1e3 * v:.2f} ms", f"{1 / v:,.0f}", "-", len(runs[m])]
        for m, v in med.items()
    ]
    ratio = med["step+valid_actions"] / med["step"]
    return rows, [("env_step_scienceworld_no_valid_speedup", ratio, 4, "ratio")]


# -- WebShop ---------------------------------------------------------------------------------
def bench_webshop(args: argparse.Namespace) -> tuple[list[list], list[tuple]]:
    from arm_exp.envs.webshop import WebShopEnv

    env = WebShopEnv(cache_dir=None)
    n_goals = len(env.catalog.goals)
    rng = random.Random(args.seed)
    counter = {"k": 0}

    def episodes() -> tuple[list[float], list[float]]:
        search, click = [], []
        for _ in range(args.webshop_episodes):
            env.reset(str(counter["k"] % n_goals))
            counter["k"] += 1
            query = env.valid_actions()[0]
            t = time.perf_counter()
            env.step(query)
            search.append(time.perf_counter() - t)
            for _ in range(6):
                acts = [a for a in env.valid_actions() if a != "click[buy now]"]
                if not acts:
                    break
                a = rng.choice(acts)
                t = time.perf_counter()
                env.step(a)
                click.append(time.perf_counter() - t)
        return search, click

    runs = interleaved({"episodes": episodes}, args.reps)["episodes"]
    search = statistics.median(t for _, (s, _) in runs for t in s)
    click = statistics.median(t for _, (_, c) in runs for t in c)
    rows = [
        [
            "webshop_mini",
            "search (new query)",
            f"{1e3 * search:.2f} ms",
            f"{1 / search:,.0f}",
            "-",
            len(runs),
        ],
        ["webshop_mini", "click", f"{1e3 * click:.2f} ms", f"{1 / click:,.0f}", "-", len(runs)],
    ]
    return rows, [
        ("env_step_webshop_search_ms", 1e3 * search, "none", "ms"),
        ("env_step_webshop_click_ms", 1e3 * click, "none", "ms"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--game24-episodes", type=int, default=2000)
    ap.add_argument("--sw-steps", type=int, default=40, help="ScienceWorld steps per block")
    ap.add_argument("--webshop-episodes", type=int, default=20, help="per block")
    ap.add_argument("--skip", default="", help="comma-separated: scienceworld,webshop")
    ap.add_argument("--device", default="cpu", help="unused: envs run on the CPU")
    ap.add_argument("--seed", type=int, default=0)
    tiny_arg(ap)
    args = ap.parse_args()
    if args.tiny:
        args.reps, args.game24_episodes, args.sw_steps, args.webshop_episodes = 1, 20, 4, 2
    skip = set(filter(None, args.skip.split(",")))
    rows, results = bench_game24(args)
    for name, fn in (("scienceworld", bench_scienceworld), ("webshop", bench_webshop)):
        if name not in skip:
            r, res = fn(args)
            rows += r
            results += res
    print(table(["env", "mode", "median step", "steps/s", "steps/cpu-s", "reps"], rows))
    for name, value, target, unit in results:
        result(name, value, target, unit)


if __name__ == "__main__":
    main()
