"""Reward-model training: our Lightning module vs TRL's ``RewardTrainer``, same everything.

    .venv/bin/python benchmarks/rm_training.py [--reps 5] [--steps 8] [--batch-size 8]
                                               [--max-length 96] [--device cpu] [--tiny]

Needs TRL (``pip install -e '.[bench]'``; ``make bench`` installs it); ``--sides ours`` runs
without it (no ratios then).

Data: the demo's Game of 24 triplets (the explore + synthesize stages of ``arm-exp pipeline
experiment=demo_game24``, run once in-process into ``--out``, ``outputs/bench/rm_training/``),
split and tokenized by our
``TripletDataModule`` (renderer + MiniLM tokenizer + tail-keeping truncation to
``--max-length``); TRL gets the very same token ids as pre-tokenized ``chosen_ids`` /
``rejected_ids`` columns, so neither side filters or truncates differently.

Both sides: all-MiniLM-L6-v2 (``reward_model=minilm``), ``--batch-size`` pairs per step,
``--steps`` optimizer steps, fp32, AdamW at the demo's lr 1e-4 with a constant schedule after 10
warm-up steps, gradient clipping 0.3, dropout on, Bradley-Terry loss with reward centering 1e-3
(ours: ``|mean(r+ + r-)|``, TRL: ``mean((r+ + r-)^2)``). Heads differ as users would get them:
ours mean-pools into a linear head (``reward_model=minilm``); TRL uses
``AutoModelForSequenceClassification`` (BERT pooler + classifier). Batching differs by design:
ours groups similar lengths (less padding), TRL samples at random.

Each (side, repetition) runs in its own process (so peak RSS is that run's), interleaved: ours,
TRL, ours, TRL, ... with seed = repetition for both. Throughput = pairs / time inside optimizer
steps (the first step excluded as warm-up); "fit wall" is the whole training call. Validation
pair accuracy is measured after the last step by the same code for both (our val split,
r+ > r-). Target: pairs/s ratio ours / TRL >= 1.0 and val accuracies equal within noise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import (
    ROOT,
    apply_threads,
    demo_stages,
    device_arg,
    peak_rss_mb,
    result,
    table,
    tiny_arg,
)

SIDES = ("ours", "trl")


# -- data ------------------------------------------------------------------------------------
def make_triplets(out: Path, limit: int | None) -> Path:
    """The demo's explore + synthesize stages (``limit``: explore the first N train puzzles
    only), run once (reused when already there)."""
    from arm_exp.config import compose
    from arm_exp.stages import explore, synthesize

    demo, _ = demo_stages(out / "compose")
    root = f"paths.root_dir={ROOT}"
    explore_over = demo["explore"][0] + ([f"limit={limit}"] if limit else [])
    exp_dir, syn_dir = out / "explore", out / "synthesize"
    explore.run(compose("explore", [root, *explore_over], exp_dir))
    synthesize.run(
        compose("synthesize", [root, *demo["synthesize"][0], f"input_dir={exp_dir}"], syn_dir)
    )
    return syn_dir / "triplets.jsonl"


def load_data(args: argparse.Namespace, seed: int):
    """(model spec, our data module after setup) for ``args``: the shared tokenized data."""
    from hydra.utils import instantiate

    from arm_exp.config import compose
    from arm_exp.reward.render import Renderer

    cfg = compose(
        "train",
        [
            f"input_dir={args.out / 'synthesize'}",
            f"reward_model.max_length={args.max_length}",
            f"train.data.batch_size={args.batch_size}",
            f"seed={seed}",
        ],
        args.out / "compose",
    )
    spec = instantiate(cfg.reward_model)
    return cfg, spec, Renderer(**cfg.benchmark.render)


def val_pairs(data) -> list[tuple[list[int], list[int]]]:
    return [(e.pos, n) for e in data.val for n in e.negs]


def val_accuracy(reward_fn, pairs, pad_id: int, device: str) -> float:
    """Share of validation pairs with r+ > r-, the same code for both sides."""
    import torch

    def batch(seqs):
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return ids.to(device), mask.to(device)

    wins = 0
    with torch.inference_mode():
        for start in range(0, len(pairs), 32):
            chunk = pairs[start : start + 32]
            rp = reward_fn(*batch([p for p, _ in chunk]))
            rn = reward_fn(*batch([n for _, n in chunk]))
            wins += int((rp > rn).sum())
    return wins / len(pairs)


# -- the two workers (each in its own process) -----------------------------------------------
def worker_ours(args: argparse.Namespace, seed: int) -> dict[str, float]:
    import lightning as L
    from hydra.utils import instantiate

    from arm_exp.reward.data import TripletDataModule
    from arm_exp.reward.module import RewardModule

    timer = StepTimer()

    class LightningTimer(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            timer.start()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            timer.stop(int(batch["neg_mask"].sum()))

    cfg, spec, renderer = load_data(args, seed)
    L.seed_everything(seed, workers=True, verbose=False)
    module = RewardModule(
        spec=spec,
        loss=instantiate(cfg.loss),
        optimizer=instantiate(cfg.train.optimizer, lr=args.lr),
        renderer=renderer,
        scheduler=instantiate(cfg.train.scheduler),
    )
    data = TripletDataModule(
        str(args.out / "synthesize" / "triplets.jsonl"),
        renderer,
        module.model.encode,
        module.model.collate,
        batch_size=args.batch_size,
        seed=seed,
    )
    data.setup()
    trainer = instantiate(
        cfg.trainer,
        accelerator="gpu" if args.device.startswith("cuda") else "cpu",
        max_steps=args.steps,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        callbacks=[LightningTimer()],
        default_root_dir=str(args.out / "lightning"),
    )
    t = time.perf_counter()
    trainer.fit(module, train_dataloaders=data.train_dataloader())
    fit_s = time.perf_counter() - t
    model = module.model.to(args.device).eval()
    acc = val_accuracy(
        lambda ids, mask: model(ids, mask),
        val_pairs(data),
        model.tokenizer.pad_token_id,
        args.device,
    )
    return timer.report(fit_s, acc, data)


class StepTimer:
    """Wall time of each optimizer step (forward, backward, clipping, update) and its pairs."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.pairs: list[int] = []
        self._t = 0.0

    def start(self) -> None:
        self._t = time.perf_counter()

    def stop(self, pairs: int) -> None:
        self.times.append(time.perf_counter() - self._t)
        self.pairs.append(pairs)

    def report(self, fit_s: float, acc: float, data) -> dict[str, float]:
        times, pairs = self.times[1:], self.pairs[1:]  # the first step warms up
        return {
            "pairs_per_s": sum(pairs) / sum(times),
            "step_s": statistics.median(times),
            "fit_s": fit_s,
            "steps": float(len(self.times)),
            "val_acc": acc,
            "val_pairs": float(sum(len(e.negs) for e in data.val)),
            "peak_rss_mb": peak_rss_mb(),
        }


def worker_trl(args: argparse.Namespace, seed: int) -> dict[str, float]:
    from types import SimpleNamespace

    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RewardConfig, RewardTrainer

    from arm_exp.reward.data import TripletDataModule
    from arm_exp.reward.model import RewardModel

    cfg, spec, renderer = load_data(args, seed)
    path = spec.path()
    tok = AutoTokenizer.from_pretrained(path)
    tok.eos_token = tok.sep_token  # TRL needs an eos token; BERT tokenizers have none
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    # Our tokenization + truncation (identical ids for both sides), without loading our weights.
    tokenizer_only = SimpleNamespace(tokenizer=AutoTokenizer.from_pretrained(path), spec=spec)
    data = TripletDataModule(
        str(args.out / "synthesize" / "triplets.jsonl"),
        renderer,
        lambda pairs: RewardModel.encode(tokenizer_only, pairs),  # type: ignore[arg-type]
        lambda seqs: {},
        batch_size=args.batch_size,
        seed=seed,
    )
    data.setup()
    train = Dataset.from_dict(
        {
            "chosen_ids": [e.pos for e in data.train for _ in e.negs],
            "rejected_ids": [n for e in data.train for n in e.negs],
        }
    )
    timer = StepTimer()

    class HFTimer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            timer.start()

        def on_step_end(self, a, state, control, **kw):
            timer.stop(args.batch_size)

    config = RewardConfig(
        output_dir=str(args.out / "trl"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=args.lr,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=10,
        weight_decay=0.0,
        max_grad_norm=0.3,
        optim="adamw_torch",
        bf16=False,
        fp16=False,
        use_cpu=not args.device.startswith("cuda"),
        max_length=args.max_length,
        center_rewards_coefficient=1e-3,
        disable_dropout=False,  # ours trains with MiniLM's dropout on
        seed=seed,
        data_seed=seed,
        logging_steps=10**6,
        save_strategy="no",
        report_to=[],
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = RewardTrainer(
        model=model,
        args=config,
        train_dataset=train,
        processing_class=tok,
        callbacks=[HFTimer()],
    )
    t = time.perf_counter()
    trainer.train()
    fit_s = time.perf_counter() - t
    model = trainer.model.eval()
    acc = val_accuracy(
        lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits.squeeze(-1),
        val_pairs(data),
        tok.pad_token_id,
        args.device,
    )
    return timer.report(fit_s, acc, data)


# -- driver ----------------------------------------------------------------------------------
def run_worker(side: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        side,
        "--seed",
        str(seed),
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--max-length",
        str(args.max_length),
        "--lr",
        str(args.lr),
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--out",
        str(args.out),
    ]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "WANDB_DISABLED": "true"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("WORKER ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"rm_training: the {side} worker failed (exit {proc.returncode})")
    return json.loads(lines[-1][len("WORKER ") :])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8, help="pairs per step")
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--sides", default=",".join(SIDES), help="ours,trl (trl needs TRL)")
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "rm_training")
    ap.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    device_arg(ap)
    tiny_arg(ap)
    args = ap.parse_args()
    if args.tiny:  # 20 explored puzzles, one rep of 2 steps of 4 pairs
        args.reps, args.steps, args.batch_size, args.max_length = 1, 2, 4, 32
    apply_threads(args.threads)
    if args.worker:
        fn = worker_ours if args.worker == "ours" else worker_trl
        print("WORKER " + json.dumps(fn(args, args.seed)), flush=True)
        return
    sides = args.sides.split(",")
    if not set(sides) <= set(SIDES):
        raise SystemExit(f"--sides {args.sides}: a comma-separated subset of {','.join(SIDES)}")

    make_triplets(args.out, 20 if args.tiny else None)
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for rep in range(args.reps):
        for side in runs:
            runs[side].append(run_worker(side, rep, args))
            print(f"rep {rep} {side}: {json.dumps(runs[side][-1])}", flush=True)
    med = {s: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for s, rs in runs.items()}
    acc = {s: [r["val_acc"] for r in rs] for s, rs in runs.items()}
    n_val = med[sides[0]]["val_pairs"]
    rows = [
        [
            side,
            f"{m['pairs_per_s']:.1f}",
            f"{1e3 * m['step_s']:.0f} ms",
            f"{m['fit_s']:.1f}",
            f"{m['peak_rss_mb']:.0f}",
            f"{statistics.fmean(acc[side]):.3f} ± {statistics.pstdev(acc[side]):.3f}",
            int(m["steps"]),
        ]
        for side, m in med.items()
    ]
    print(
        f"device: {args.device}; {args.reps} reps per side (interleaved, one process each, "
        f"seed = rep); batch {args.batch_size} pairs, max length {args.max_length}, fp32; "
        f"{int(n_val)} validation pairs"
    )
    print(
        table(
            [
                "side",
                "pairs/s",
                "median step",
                "fit wall s",
                "peak RSS MB",
                "val acc (mean ± sd)",
                "steps",
            ],
            rows,
        )
    )
    for side, m in med.items():
        result(f"rm_training_{side}_pairs_per_s", m["pairs_per_s"], "none", "pairs/s")
    if len(sides) < 2:
        return
    diff = statistics.fmean(acc["ours"]) - statistics.fmean(acc["trl"])
    # noise: the two means' standard errors over reps, plus binomial noise of the val set
    p = (statistics.fmean(acc["ours"]) + statistics.fmean(acc["trl"])) / 2
    se = math.sqrt(
        sum(statistics.pvariance(a) / len(a) for a in acc.values())
        + 2 * p * (1 - p) / max(n_val, 1) / args.reps
    )
    print(f"val acc difference ours - TRL: {diff:+.3f} (noise, 2 SE: {2 * se:.3f})")
    result(
        "rm_training_pairs_per_s_ratio",
        med["ours"]["pairs_per_s"] / med["trl"]["pairs_per_s"],
        1.0,
        "ratio",
    )
    result(
        "rm_training_peak_rss_ratio",
        med["ours"]["peak_rss_mb"] / med["trl"]["peak_rss_mb"],
        "none",
        "ratio",
    )
    result("rm_training_val_acc_diff", diff, f"|diff|<=2SE({2 * se:.3f})", "accuracy")


if __name__ == "__main__":
    main()
