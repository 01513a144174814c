"""WebShop reward model with vs without truncated negatives, judged on complete purchases.

    .venv/bin/python benchmarks/webshop_truncated_negatives.py [--train-goals 150] [--eval-goals 100]
                                                              [--steps 60] [--seeds 0] [--tiny]

ARMAP's WebShop pairs (``benchmark.synthesis_kit`` defaults: runs of a goal paired off by
reward, ties dropped, one negative per positive) against the same pairs plus our former
"truncated" negatives (``benchmark.synthesis_kit.truncated_negatives=true``: the positive cut
before its purchase). Everything else is equal: the same explored trajectories (random policy
on the bundled mini catalog, 4 runs per human train goal), MiniLM reward model, optimizer,
steps and seed.

Both are evaluated on one held-out set the training never saw: random-policy runs on the first
``--eval-goals`` test goals (4 per goal), paired off per goal as the kit does, keeping only pairs
where **both** runs bought something (the page after ``click[buy now]``) and their rewards
differ: does the reward model rank the better of two complete purchases higher? A truncated
negative never completes a purchase (and scores 0), so it teaches "did it buy?", which these
pairs do not ask. Also reported: each model's own validation pair accuracy (on its own
held-out triplets, truncated ones included where trained with them).

Prints a table and ``RESULT`` lines; the numbers are in ``docs/fidelity.md``. Runs in about
10-20 minutes on 2 CPU cores (the stages run in-process into ``outputs/bench/webshop_trunc/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchlib import apply_threads, result, table, tiny_arg

from arm_exp.artifacts import read_records
from arm_exp.config import compose
from arm_exp.reward.scorer import RewardScorer
from arm_exp.stages import explore, synthesize, train
from arm_exp.types import Trajectory

ROOT = Path(__file__).resolve().parents[1]


def _run(module, name: str, overrides: list[str], out: Path) -> dict[str, float]:
    return module.run(compose(name, [f"paths.root_dir={ROOT}", *overrides], out))


def purchased(t: Trajectory) -> bool:
    return bool(t.steps) and t.steps[-1].done and t.steps[-1].info.get("page") == "done"


def complete_purchase_pairs(trajs: list[Trajectory]) -> list[tuple[Trajectory, Trajectory]]:
    """(better, worse) for the runs of each goal paired off in order, both bought, rewards apart."""
    by_goal: dict[str, list[Trajectory]] = {}
    for t in trajs:
        by_goal.setdefault(t.task_id, []).append(t)
    out = []
    for runs in by_goal.values():
        for a, b in zip(runs[0::2], runs[1::2], strict=False):
            if purchased(a) and purchased(b) and a.score != b.score:
                out.append((a, b) if a.score > b.score else (b, a))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-goals", type=int, default=150)
    ap.add_argument("--eval-goals", type=int, default=100)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "webshop_trunc")
    tiny_arg(ap)
    args = ap.parse_args()
    if args.tiny:
        args.train_goals, args.eval_goals, args.steps = 30, 10, 2
    apply_threads(args.threads)
    out = args.out
    common = ["benchmark=webshop", "explorer=random", "explore.num_per_task=4"]
    _run(explore, "explore", [*common, "split=train", f"limit={args.train_goals}"], out / "e")
    _run(explore, "explore", [*common, "split=test", f"limit={args.eval_goals}"], out / "eval")
    evals = read_records(out / "eval" / "trajectories.jsonl", Trajectory.from_dict)
    pairs = complete_purchase_pairs(evals)
    variants = {
        "ARMAP pairs": ["synthesis.negatives_per_positive=0"],
        "pairs + truncated": [
            "benchmark.synthesis_kit.truncated_negatives=true",
            "synthesis.negatives_per_positive=2",
        ],
    }
    rows, accs = [], {}
    for name, synth_over in variants.items():
        tag = "armap" if name == "ARMAP pairs" else "trunc"
        sm = _run(
            synthesize,
            "synthesize",
            ["benchmark=webshop", f"input_dir={out / 'e'}", "synthesis=rule", *synth_over],
            out / f"s_{tag}",
        )
        for seed in args.seeds:
            tm = _run(
                train,
                "train",
                [
                    "benchmark=webshop",
                    f"input_dir={out / f's_{tag}'}",
                    f"seed={seed}",
                    "reward_model.max_length=256",
                    "train.optimizer.lr=1e-4",
                    "train.data.batch_size=16",
                    "trainer.max_epochs=50",
                    f"trainer.max_steps={args.steps}",
                    "trainer.enable_progress_bar=false",
                ],
                out / f"t_{tag}_{seed}_{args.steps}",
            )
            scorer = RewardScorer.from_checkpoint(out / f"t_{tag}_{seed}_{args.steps}")
            better = scorer.score([a.intent for a, _ in pairs], [a for a, _ in pairs])
            worse = scorer.score([b.intent for _, b in pairs], [b for _, b in pairs])
            acc = sum(x > y for x, y in zip(better, worse, strict=True)) / max(len(pairs), 1)
            accs.setdefault(name, []).append(acc)
            rows.append(
                [
                    name,
                    seed,
                    int(sm["synth/n_triplets"]),
                    int(sm.get("synth/kept/truncated", 0)),
                    f"{tm['rm/val/pair_acc']:.3f}",
                    len(pairs),
                    f"{acc:.3f}",
                ]
            )
    print(
        table(
            [
                "data",
                "seed",
                "triplets",
                "truncated",
                "own val pair acc",
                "purchase pairs",
                "purchase-pair acc",
            ],
            rows,
        )
    )
    for name, vs in accs.items():
        slug = "armap" if name == "ARMAP pairs" else "truncated"
        result(f"webshop_purchase_pair_acc_{slug}", sum(vs) / len(vs), "-", "fraction")


if __name__ == "__main__":
    main()
