"""Reward-model backbones side by side on the demo's data: MiniLM vs SmolLM2-135M with LoRA.

    .venv/bin/python benchmarks/rm_backbones.py [--threads 1] [--smollm2-steps 40] [--tiny]

One run, same data, same split, same planning candidates; only the reward model differs.

- Data: the demo's (``experiment=demo_game24``; each stage's overrides are the ones ``arm-exp
  pipeline experiment=demo_game24`` gives it): random exploration of 150 Game of 24 training
  puzzles, 4 trajectories each; rule synthesis with 2 negatives per positive and 1 natural
  negative. Both models see the same triplets and the same validation groups (seed 0).
- Training: the demo's settings (max length 96, lr 1e-4, 16 examples per step, one epoch capped
  at ``--minilm-steps`` steps, the demo's 80) for ``reward_model=minilm`` (full fine-tune) and
  ``reward_model=smollm2_135m`` (LoRA r=64, alpha=16 on all projections; the base stays frozen)
  capped at ``--smollm2-steps`` (fewer by default: a SmolLM2 step costs several MiniLM steps on
  CPU). Both keep a third of the 96 tokens for the task text (MiniLM's default; the SmolLM2
  config's 0.25 would cut the target value off). Validation pair accuracy is measured before
  and after (``rm/val/pair_acc_init``, ``rm/val/pair_acc``) on the same held-out pairs.
- Planning: the demo's Best-of-N (N=16, random policy, seed 0) on the 100 test puzzles
  (900-999) with each reward model, Sampling (no scorer) as the baseline and Best-of-N with the
  oracle (the environment's own verdict) as the ceiling. The policy and its seeds do not depend
  on the scorer, so every Best-of-N run picks among the very same N candidates: lift = Best-of-N
  success - Sampling success is the reward model's doing alone.

Stages run in-process into run dirs under ``--out`` (``outputs/bench/rm_backbones/``); a run that
is interrupted resumes, and a finished stage is reused (``--force`` recomputes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchlib import ROOT, apply_threads, demo_stages, device_arg, result, table, tiny_arg

DEMO = "experiment=demo_game24"
# Every Game of 24 input is longer than the demo's 96 tokens; both models keep the same share for
# the task text (MiniLM's 0.34: its first 32 tokens hold the target value, "... to obtain 3.").
HEAD = "reward_model.head_fraction=0.34"


def plan_run(plans: list[list[str]], planner: str, scorer: str) -> list[str]:
    """The demo's plan run with ``planner`` and ``scorer``."""
    for spec in plans:
        if f"planner={planner}" in spec and f"scorer={scorer}" in spec:
            return spec
    raise SystemExit(f"{DEMO} has no plan run with planner={planner} scorer={scorer}")


def stage(name: str, overrides: list[str], run_dir: Path, force: bool) -> dict[str, float]:
    """Compose ``name``'s real config and run the stage in-process in ``run_dir``; the metrics
    get ``wall_s``, the stage's own wall time (from its manifest, also when it was reused)."""
    import importlib

    from arm_exp.config import compose

    module = importlib.import_module(f"arm_exp.stages.{name}")
    cfg = compose(
        name, [f"paths.root_dir={ROOT}", *overrides, *(["force=true"] if force else [])], run_dir
    )
    metrics = dict(module.run(cfg))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    metrics["wall_s"] = float(manifest.get("timings", {}).get("wall_s", 0.0))
    print(f"{name} {run_dir.name}: {metrics['wall_s']:.0f}s", flush=True)
    return metrics


def successes(run_dir: Path) -> dict[str, bool]:
    """task id -> success of the picked trajectory, from ``episodes.jsonl``."""
    out = {}
    for line in (run_dir / "episodes.jsonl").read_text().splitlines():
        e = json.loads(line)
        out[e["task_id"]] = bool(e["success"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minilm-steps", type=int, default=80, help="the demo's 80 (1,280 pairs)")
    ap.add_argument("--smollm2-steps", type=int, default=40)
    ap.add_argument("--limit", type=int, default=None, help="first N test puzzles (all 100)")
    ap.add_argument("--force", action="store_true", help="recompute finished stages")
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "rm_backbones")
    device_arg(ap)
    tiny_arg(ap)
    args = ap.parse_args()
    if args.tiny:  # 10 explored puzzles, 2 planned with Best-of-2, 2 and 1 training steps
        args.limit, args.minilm_steps, args.smollm2_steps = 2, 2, 1
    apply_threads(args.threads)
    force = args.force
    OUT = args.out
    demo, cfg = demo_stages(OUT / ".compose")
    n = 2 if args.tiny else int(cfg.benchmark.planning.best_of_n)

    def limited(spec: list[str], limit: int | None) -> list[str]:
        return (
            [o for o in spec if not o.startswith("limit=")] + [f"limit={limit}"] if limit else spec
        )

    def plan_overrides(planner: str, scorer: str) -> list[str]:
        spec = limited(plan_run(demo["plan"], planner, scorer), args.limit)
        return [*spec, "benchmark.planning.best_of_n=2"] if args.tiny else spec

    stage("explore", limited(demo["explore"][0], 10 if args.tiny else None), OUT / "explore", force)
    stage(
        "synthesize",
        [*demo["synthesize"][0], f"input_dir={OUT / 'explore'}"],
        OUT / "synthesize",
        force,
    )
    base = stage("plan", plan_overrides("sampling", "none"), OUT / "sampling", force)
    oracle = stage("plan", plan_overrides("best_of_n", "oracle"), OUT / "best_of_n-oracle", force)
    rows, summary = [], {}
    models = {"minilm": args.minilm_steps, "smollm2_135m": args.smollm2_steps}
    for model, steps in models.items():
        trained = stage(
            "train",
            [
                *demo["train"][0],
                f"reward_model={model}",
                HEAD,
                f"trainer={'gpu' if args.device.startswith('cuda') else 'cpu'}",
                f"trainer.max_steps={steps}",
                "trainer.enable_progress_bar=false",
                f"input_dir={OUT / 'synthesize'}",
            ],
            OUT / f"train-{model}",
            force,
        )
        planned = stage(
            "plan",
            [
                *plan_overrides("best_of_n", "rm"),
                f"scorer.device={args.device}",
                f"rm_ckpt={OUT / f'train-{model}'}",
            ],
            OUT / f"best_of_n-{model}",
            force,
        )
        success = planned["plan/test/success_rate"]
        interval = f"[{planned['plan/test/ci_low']:.2f}, {planned['plan/test/ci_high']:.2f}]"
        lift = success - base["plan/test/success_rate"]
        summary[model] = {"train": trained, "plan": planned}
        rows.append(
            [
                model,
                int(trained["rm/train/steps"]),
                int(trained["rm/train/steps"]) * 16,
                trained["rm/val/pair_acc_init"],
                trained["rm/val/pair_acc"],
                int(trained["rm/data/val_pairs"]),
                f"{trained['wall_s']:.0f}",
                f"{success:.2f} {interval}",
                f"{lift:+.2f}",
                f"{planned['wall_s']:.0f}",
            ]
        )
        result(f"rm_backbones_{model}_val_pair_acc", trained["rm/val/pair_acc"], "none", "acc")
        result(f"rm_backbones_{model}_best_of_n_lift", lift, "none", "success")
    n_tasks = int(base.get("plan/test/n_tasks", args.limit or 100))
    print(
        f"\nGame of 24, demo data; Best-of-{n} over the same candidates, {n_tasks} test "
        f"puzzles; sampling (no RM) {base['plan/test/success_rate']:.2f}, Best-of-{n} with "
        f"the oracle {oracle['plan/test/success_rate']:.2f}; device {args.device}"
    )
    a, b = (successes(OUT / f"best_of_n-{m}") for m in models)
    only = [sum(a[t] and not b[t] for t in a), sum(b[t] and not a[t] for t in a)]
    print(
        table(
            [
                "reward model",
                "steps",
                "pairs seen",
                "val acc before",
                "val acc after",
                "val pairs",
                "train wall s",
                f"best-of-{n} success",
                "lift vs sampling",
                "plan wall s",
            ],
            rows,
        )
    )
    print(
        f"puzzles solved by one pick and not the other: minilm only {only[0]}, smollm2_135m "
        f"only {only[1]}; success intervals are Wilson 95%"
    )
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
