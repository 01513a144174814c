"""The demo pipeline end to end: wall time and peak RSS of each stage, to a JSON file.

    .venv/bin/python benchmarks/end_to_end.py [--reps 5] [--full | --tiny] [--out outputs/bench/end_to_end.json]

Runs ``arm-exp pipeline experiment=demo_game24`` in a fresh cache dir per repetition (so every
stage runs; nothing is reused) and reads the per-stage wall time and peak RSS that ``pipeline``
records in its manifest (``counts.stages[*].wall_s`` / ``peak_rss_mb``; the peak RSS of each
stage process comes from ``os.wait4``). By default the demo is **shrunk** to keep a repetition to
a couple of minutes on 2 shared cores: explore 40 train puzzles (not 200), train on those
triplets with the demo's settings, plan on the first 5 test puzzles (not 100) with all seven of
the demo's planner/scorer pairs. ``--full`` runs the demo's own sizes (about 15 minutes a
repetition); ``--tiny`` 10 puzzles, 2 training steps and one plan run (Best-of-2 with the reward
model on one test puzzle), to check that the script runs. The JSON holds every repetition, the medians and the git commit, so regressions are
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

SIZES = {
    "full": [],
    "small": ["pipeline.explore.limit=40", "pipeline.plan.limit=5"],
    "tiny": ["pipeline.explore.limit=10", "pipeline.plan.limit=1", "trainer.max_steps=2",
             "pipeline.plans=[['planner=best_of_n','scorer=rm']]", "benchmark.planning.best_of_n=2"],
}  # fmt: skip


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


def overrides(size: str, device: str) -> list[str]:
    """The pipeline's command line after ``experiment=demo_game24`` for ``size``; off the CPU,
    train there and score with the reward model there."""
    out = list(SIZES[size])
    if device != "cpu":
        from arm_exp.config import compose

        cfg = compose(
            "pipeline",
            [f"paths.root_dir={ROOT}", "experiment=demo_game24", *out],
            Path(tempfile.mkdtemp(prefix="bench_e2e_compose_")),
            set_hydra_config=False,
        )
        plans = [
            [*map(str, p), *([f"scorer.device={device}"] if "scorer=rm" in p else [])]
            for p in cfg.pipeline.plans
        ]
        quoted = ",".join("[" + ",".join(f"'{o}'" for o in p) + "]" for p in plans)
        out = [o for o in out if not o.startswith("pipeline.plans=")]
        out += ["trainer=gpu", f"pipeline.plans=[{quoted}]"]
    return out


def run_pipeline(size: str, device: str, threads: int) -> dict:
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
            *overrides(size, device),
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
                counts = json.loads((Path(s["dir"]) / "manifest.json").read_text())["counts"]
                name = f"plan {counts['planner']}/{counts['scorer']}"
            stages.append(
                {"stage": name, "index": k, "wall_s": s["wall_s"], "peak_rss_mb": s["peak_rss_mb"]}
            )
        return {"total_wall_s": wall, "stages": stages}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the demo's own sizes (slow)")
    size.add_argument("--tiny", action="store_true", help="smallest sizes: checks that it runs")
    ap.add_argument("--out", default=str(ROOT / "outputs" / "bench" / "end_to_end.json"))
    ap.add_argument("--device", default="cpu", help="reward-model scorer device in plan stages")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS for the stages (0: torch's default); 1 on an oversubscribed CPU",
    )
    args = ap.parse_args()
    args.size = "full" if args.full else "tiny" if args.tiny else "small"
    if args.tiny:
        args.reps = 1
    reps: list[dict] = []
    for rep in range(args.reps):
        reps.append(run_pipeline(args.size, args.device, args.threads))
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
        "demo": args.size,
        "overrides": overrides(args.size, args.device),
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
