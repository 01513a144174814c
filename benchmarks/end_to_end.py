"""The demo pipeline end to end: wall time and peak RSS of each stage, to a JSON file.

    .venv/bin/python benchmarks/end_to_end.py [--reps 5] [--full] [--out outputs/bench/end_to_end.json]

Runs ``arm-exp pipeline experiment=demo_game24`` in a fresh cache dir per repetition (so every
stage runs; nothing is reused) and reads the per-stage wall time and peak RSS that ``pipeline``
records in its manifest (``counts.stages[*].wall_s`` / ``peak_rss_mb``; the peak RSS of each
stage process comes from ``os.wait4``). By default the demo is **shrunk** to keep a repetition to
a couple of minutes on 2 shared cores: explore 40 train puzzles (not 200), train on those
triplets with the demo's settings, plan on the first 5 test puzzles (not 100) with all seven of
the demo's planner/scorer pairs. ``--full`` runs the demo's own sizes (about 15 minutes a
repetition). The JSON holds every repetition, the medians and the git commit, so regressions are
visible across commits. Target: every stage under 6 GiB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, result, table


def hydra_list(key: str, items: list[str]) -> str:
    return f"{key}=[" + ",".join(f"'{x}'" for x in items) + "]"


SMALL_EXPLORE = ["explorer=random", "split=train", "limit=40", "explore.num_per_task=4"]
PLAN_COMMON = ["policy=random", "split=test"]  # the demo's


def git_sha() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def overrides(full: bool, device: str) -> list[str]:
    out = [] if full else [hydra_list("pipeline.explore", SMALL_EXPLORE)]
    if not full:
        out.append(hydra_list("pipeline.plan_common", [*PLAN_COMMON, "limit=5"]))
    if device != "cpu":  # train on the GPU, and score with the reward model there
        from omegaconf import OmegaConf

        demo = OmegaConf.load(ROOT / "conf" / "experiment" / "demo_game24.yaml").pipeline
        out.append(hydra_list("pipeline.train", [*demo.train, "trainer=gpu"]))
        plans = [
            [*p, f"scorer.device={device}"] if "scorer=rm" in p else list(p) for p in demo.plans
        ]
        out.append("pipeline.plans=[" + ",".join(hydra_list("", p)[1:] for p in plans) + "]")
    return out


def run_pipeline(full: bool, device: str, threads: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    try:
        cmd = [
            sys.executable,
            "-m",
            "arm_exp.cli",
            "pipeline",
            "experiment=demo_game24",
            f"paths.root_dir={ROOT}",
            f"pipeline.cache_dir={work / 'cache'}",
            f"hydra.run.dir={work / 'run'}",
            *overrides(full, device),
        ]
        t = time.perf_counter()
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        out, _ = proc.communicate()
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            sys.stderr.write(out.decode(errors="replace")[-5000:])
            raise SystemExit(f"end_to_end: the pipeline failed (exit {proc.returncode})")
        manifest = json.loads((work / "run" / "manifest.json").read_text())
        stages = []
        for k, s in enumerate(manifest["counts"]["stages"]):
            name = s["stage"]
            if name == "plan":
                opts = dict(o.split("=", 1) for o in s["overrides"] if "=" in o)
                name = f"plan {opts.get('planner')}/{opts.get('scorer')}"
            stages.append(
                {"stage": name, "index": k, "wall_s": s["wall_s"], "peak_rss_mb": s["peak_rss_mb"]}
            )
        return {"total_wall_s": wall, "stages": stages}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="the demo's own sizes (slow)")
    ap.add_argument("--out", default=str(ROOT / "outputs" / "bench" / "end_to_end.json"))
    ap.add_argument("--device", default="cpu", help="reward-model scorer device in plan stages")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS for the stages (0: torch's default); 1 on an oversubscribed CPU",
    )
    args = ap.parse_args()
    reps: list[dict] = []
    for rep in range(args.reps):
        reps.append(run_pipeline(args.full, args.device, args.threads))
        print(f"rep {rep}: {reps[-1]['total_wall_s']:.1f} s", flush=True)
        # written after every repetition, so an interrupted run still leaves its numbers
        total, peak = summarize(reps, args)
    result("end_to_end_total_wall_s", total, "none", "s")
    result("end_to_end_max_stage_peak_rss_mb", peak, 6144, "MB")


def summarize(reps: list[dict], args: argparse.Namespace) -> tuple[float, float]:
    """Write the JSON and print the table for the repetitions so far."""
    rows, medians = [], []
    for k, st in enumerate(reps[0]["stages"]):
        walls = [r["stages"][k]["wall_s"] for r in reps]
        rss = [r["stages"][k]["peak_rss_mb"] for r in reps]
        m = {
            "stage": st["stage"],
            "wall_s": statistics.median(walls),
            "peak_rss_mb": statistics.median(rss),
            "max_peak_rss_mb": max(rss),
        }
        medians.append(m)
        rows.append(
            [
                m["stage"],
                f"{m['wall_s']:.1f}",
                f"{m['peak_rss_mb']:.0f}",
                f"{m['max_peak_rss_mb']:.0f}",
            ]
        )
    total = statistics.median(r["total_wall_s"] for r in reps)
    peak = max(m["max_peak_rss_mb"] for m in medians)
    rows.append(["total (pipeline process)", f"{total:.1f}", "", f"{peak:.0f}"])
    report = {
        "commit": git_sha(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "demo": "full" if args.full else "small",
        "overrides": overrides(args.full, args.device),
        "cpus": os.cpu_count(),
        "threads": args.threads or None,
        "reps": reps,
        "medians": medians,
        "total_wall_s": total,
        "max_peak_rss_mb": peak,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(
        f"demo: {report['demo']} ({' '.join(report['overrides']) or 'experiment=demo_game24'}); "
        f"{len(reps)} of {args.reps} reps; medians; JSON: {out}"
    )
    print(table(["stage", "wall s", "peak RSS MB", "max peak RSS MB"], rows))
    return total, peak


if __name__ == "__main__":
    main()
