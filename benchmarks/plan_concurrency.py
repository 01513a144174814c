"""``arm-exp plan`` against a served LLM: one task at a time vs ``plan.concurrency``'s default.

A served LLM (vLLM) answers a request in about the same time whether 1 or 64 are in flight, until
it saturates; a planner that waits for each answer before the next leaves it idle. This script
starts our latency-simulating OpenAI-compatible server (:mod:`arm_exp.llm.sim_server`: a fixed
``--latency`` per request up to ``--capacity`` in flight; plausible Game of 24 and ScienceWorld
answers, so the episodes are real) and runs the real ``arm-exp plan`` CLI with
``llm=openai_server`` against it, side by side at ``plan.concurrency=1`` and at the default (the
client's ``llm.max_concurrency``):

- Game of 24, MCTS (``--g24-tasks`` >= 32 tasks) and Best-of-N;
- ScienceWorld, MCTS (``--sw-tasks`` >= 8 tasks; one JVM per task in flight).

For each run: wall time, requests and the most in flight (counted by the server), and the ratio
to the ideal wall: the longest single task's chain of requests (its sequential ``generate``
calls, ``llm_calls`` in its episode; the prompts of one call go out together) x latency, plus
startup (process start to the server's first request). The last lines are ``RESULT`` lines.

    .venv/bin/python benchmarks/plan_concurrency.py            # ~12 min, mostly waiting
    .venv/bin/python benchmarks/plan_concurrency.py --tiny     # checks that it runs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import ROOT, result, table, tiny_arg

sys.path.insert(0, str(ROOT))

from arm_exp.llm.sim_server import serve  # noqa: E402

WORKLOADS = {
    "g24_mcts": ["benchmark=game24", "planner=mcts"],
    "g24_best_of_n": ["benchmark=game24", "planner=best_of_n"],
    "sw_mcts": ["benchmark=scienceworld", "planner=mcts"],
}


def run_plan(
    name: str, overrides: list[str], base_url: str, server, latency: float, out: Path
) -> dict[str, float]:
    """One ``arm-exp plan`` run; its wall, the server's counts and the ideal wall."""
    run_dir = out / name
    cmd = [
        str(ROOT / ".venv" / "bin" / "arm-exp") if (ROOT / ".venv").exists() else "arm-exp",
        "plan",
        "policy=llm",
        "llm=openai_server",
        f"llm.base_url={base_url}",
        "llm.model=sim",
        "scorer=oracle",
        f"paths.root_dir={ROOT}",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]
    server.state.reset()
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.time() - started
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    stats = server.state.stats()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    episodes = [json.loads(x) for x in (run_dir / "episodes.jsonl").read_text().splitlines()]
    chain = max(
        e["counters"].get("llm_calls", 0) + e["counters"].get("judge_llm_calls", 0)
        for e in episodes
    )
    startup = (stats["first_request_at"] or started) - started
    ideal = startup + chain * latency
    prefix = next(k.rsplit("/", 1)[0] for k in metrics if k.endswith("/concurrency"))
    return {
        "concurrency": metrics[f"{prefix}/concurrency"],
        "tasks": len(episodes),
        "wall_s": wall,
        "requests": stats["requests"],
        "peak_in_flight": stats["peak_in_flight"],
        "chain": chain,
        "startup_s": startup,
        "ideal_s": ideal,
        "wall_over_ideal": wall / ideal,
        "success_rate": metrics[f"{prefix}/success_rate"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.5, help="seconds per request")
    ap.add_argument("--capacity", type=int, default=64, help="requests the server serves at once")
    ap.add_argument("--g24-tasks", type=int, default=32)
    ap.add_argument("--g24-rollouts", type=int, default=16, help="MCTS rollouts (paper: 100)")
    ap.add_argument("--bon-n", type=int, default=16, help="Best-of-N samples (paper: 100)")
    ap.add_argument("--sw-tasks", type=int, default=8)
    ap.add_argument("--sw-rollouts", type=int, default=4, help="MCTS rollouts (paper: 10)")
    ap.add_argument(
        "--sw-heap-mb",
        type=int,
        default=1024,
        help="JVM heap per ScienceWorld env; the envs in flight are capped to what fits in memory",
    )
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    tiny_arg(ap)
    args = ap.parse_args()
    if args.tiny:  # 2 tasks each, 2 rollouts or samples, answers at once
        args.latency, args.g24_tasks, args.g24_rollouts, args.bon_n = 0.0, 2, 2, 2
        args.sw_tasks, args.sw_rollouts, args.sw_heap_mb = 2, 1, 256

    server = serve(latency_s=args.latency, capacity=args.capacity)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    sizes = {
        "g24_mcts": [f"limit={args.g24_tasks}", f"planner.rollouts={args.g24_rollouts}"],
        "g24_best_of_n": [f"limit={args.g24_tasks}", f"planner.n={args.bon_n}"],
        "sw_mcts": [
            f"limit={args.sw_tasks}",
            f"planner.rollouts={args.sw_rollouts}",
            f"benchmark.env.jvm_heap_mb={args.sw_heap_mb}",
        ],
    }
    rows, lines = [], []
    with tempfile.TemporaryDirectory(prefix="plan_concurrency_") as tmp:
        for name in args.only.split(","):
            base = [*WORKLOADS[name], *sizes[name]]
            one = run_plan(
                f"{name}_c1", [*base, "plan.concurrency=1"], base_url, server, args.latency,
                Path(tmp),
            )  # fmt: skip
            auto = run_plan(f"{name}_default", base, base_url, server, args.latency, Path(tmp))
            if one["requests"] != auto["requests"] or one["success_rate"] != auto["success_rate"]:
                raise SystemExit(f"{name}: concurrency changed the results: {one} vs {auto}")
            for r in (one, auto):
                rows.append(
                    [
                        name,
                        int(r["concurrency"]),
                        int(r["tasks"]),
                        r["wall_s"],
                        int(r["requests"]),
                        int(r["peak_in_flight"]),
                        int(r["chain"]),
                        r["startup_s"],
                        r["ideal_s"],
                        r["wall_over_ideal"],
                    ]
                )
            speedup = one["wall_s"] / auto["wall_s"]
            lines.append((f"plan_concurrency_{name}_speedup", speedup, 8 if name == "g24_mcts"
                          else "none", "ratio"))  # fmt: skip
            lines.append((f"plan_concurrency_{name}_wall_over_ideal", auto["wall_over_ideal"],
                          "<=1.5" if name == "g24_mcts" else "none", "ratio"))  # fmt: skip
    server.shutdown()
    print()
    print(f"latency {args.latency} s per request, server capacity {args.capacity}; scorer=oracle")
    print(
        table(
            [
                "workload",
                "concurrency",
                "tasks",
                "wall s",
                "requests",
                "peak in flight",
                "longest chain",
                "startup s",
                "ideal s",
                "wall / ideal",
            ],
            rows,
        )  # fmt: skip
    )
    print(
        "longest chain: the most sequential generate calls of one task; ideal = startup + "
        "longest chain x latency"
    )
    for name, value, target, unit in lines:
        result(name, value, target, unit)


if __name__ == "__main__":
    main()
