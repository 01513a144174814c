"""ALFWorld engine latency on the shipped games: import, game load, reset, step, restore.

    .venv/bin/python benchmarks/alfworld_latency.py [--steps 40] [--seed 0] [--tiny]

Needs the alfworld extra (``make test-alfworld``). Plays random admissible commands on each of
the 18 hand-authored games and prints medians and 90th percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from benchlib import result, tiny_arg


def _summary(name: str, xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(0.9 * len(xs)))]
    return f"{name:<28} median {statistics.median(xs) * 1e3:7.1f} ms   p90 {p90 * 1e3:7.1f} ms   n={len(xs)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    tiny_arg(parser)
    args = parser.parse_args()
    if args.tiny:
        args.steps = 2
    # The engine leaves the process through _exit, which drops block-buffered output.
    sys.stdout.reconfigure(line_buffering=True)

    started = time.perf_counter()
    from arm_exp.envs.alfworld import AlfWorldEnv, shipped_games_dir

    # One engine only: the env's (a second live PddlEnv copy in the same process can take the
    # process down inside fast-downward's shared plugin registry).
    env = AlfWorldEnv(shipped_games_dir(), build_games=True)
    games = [t for s in ("train", "seen", "unseen") for t in env.task_ids(s)]
    if args.tiny:
        games = games[:2]
    t = time.perf_counter()
    env.reset(games[0])
    print(f"{'import + first game':<28} {(time.perf_counter() - started) * 1e3:7.1f} ms")

    loads, resets, steps, restores = [], [], [], []
    for task_id in games[1:]:
        t = time.perf_counter()
        env.reset(task_id)  # a game not loaded yet: build + parse + demangle + reset
        loads.append(time.perf_counter() - t)
        t = time.perf_counter()
        env.reset(task_id)  # the loaded game again
        resets.append(time.perf_counter() - t)

    rng = random.Random(args.seed)
    for task_id in games:
        env.reset(task_id)
        snap = env.snapshot()
        for k in range(args.steps):
            actions = env.valid_actions()
            if not actions:
                break
            t = time.perf_counter()
            env.step(rng.choice(actions))
            steps.append(time.perf_counter() - t)
            if k == args.steps // 2:
                snap = env.snapshot()
        # Restore the midpoint and take one step (the engine resets and replays lazily).
        env.restore(snap)
        t = time.perf_counter()
        env.step(rng.choice(env.valid_actions() or ["look"]))
        restores.append(time.perf_counter() - t)

    print(_summary("first reset of a game (load)", loads))
    print(_summary("reset (game loaded)", resets))
    print(_summary("step (random admissible)", steps))
    print(_summary(f"restore to step {args.steps // 2} + 1 step", restores))
    print(env.counters())
    for name, xs in (("load", loads), ("reset", resets), ("step", steps), ("restore", restores)):
        result(f"alfworld_{name}_ms", statistics.median(xs) * 1e3, "none", "ms")


if __name__ == "__main__":
    main()
