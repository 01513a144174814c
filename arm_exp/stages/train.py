"""``arm-exp train``: train the reward model on ``triplets.jsonl`` with Lightning.

Reads ``<input_dir>/triplets.jsonl`` (the run dir of ``arm-exp synthesize``). Writes
``checkpoints/best.ckpt`` (best ``rm/val/pair_acc``) and ``checkpoints/last.ckpt``; the best one
is what ``rm_ckpt=`` takes, and ``RewardScorer.from_checkpoint`` needs nothing else. The
validation pair accuracy of the untrained model is measured first (``rm/val/pair_acc_init``), so
the lift from training is visible. An interrupted run resumes from ``last.ckpt``.
"""

from __future__ import annotations

import logging
import os
import random
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from omegaconf import DictConfig

from arm_exp.artifacts import code_version, input_file, input_key
from arm_exp.config import choice
from arm_exp.errors import ConfigError
from arm_exp.reward.data import TripletDataModule
from arm_exp.reward.module import RewardModule
from arm_exp.reward.render import Renderer
from arm_exp.stages.base import Stage
from arm_exp.stages.record import StageRecord, upstream_benchmark, upstream_split

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


class Throughput(Callback):
    """Training pairs per second, timed over training batches only (validation excluded)."""

    def __init__(self) -> None:
        self.pairs = 0
        self.seconds = 0.0
        self.steps = 0
        self._t = 0.0

    def on_train_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._t = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.seconds += time.perf_counter() - self._t
        self.pairs += int(batch["neg_mask"].sum())
        self.steps += 1


class EpochCheckpoint(Callback):
    """Writes ``last.ckpt`` at the end of every training epoch (after its validation), atomically.

    Lightning's ``ModelCheckpoint(save_last=True)`` only refreshes ``last.ckpt`` when it also saves
    a top-k checkpoint, so with a validation metric that stops improving a resumed run would
    restart from an old epoch. The random states (torch, Python, NumPy) travel in the checkpoint
    as this callback's state, so a run resumed at an epoch boundary draws the same dropout masks
    and ends with the same weights as an uninterrupted one (the batch order is a function of the
    seed and the epoch: :class:`~arm_exp.reward.data.LengthGroupedBatches`).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._saved_step: int | None = None

    def _save(self, trainer: L.Trainer) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        # The full training state (optimizer, loops, this callback's random states): what a
        # resume needs. Saying so also keeps Lightning from logging that it chose it.
        trainer.save_checkpoint(str(tmp), weights_only=False)
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
        self._saved_step = trainer.global_step

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self._saved_step != trainer.global_step:  # stopped mid-epoch (max_steps)
            self._save(trainer)

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "python": random.getstate(),
            "numpy": [kind, np.asarray(keys).tolist(), pos, has_gauss, cached],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        torch.set_rng_state(state["torch"])
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


class _NoAd(logging.Filter):
    """Drops Lightning's advertisement for its LitLogger service (logged on every Trainer)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_lightning() -> None:
    """Silence what Lightning prints that no user of ours can act on: the LitLogger ad and the
    FutureWarning torch raises at Lightning's own use of ``LeafSpec`` (its code, not ours)."""
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAd) for f in rank_zero.filters):
        rank_zero.addFilter(_NoAd())
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
    )


def inputs(cfg: DictConfig) -> dict[str, Path]:
    """The synthesize run's triplets (``input_dir``)."""
    path = input_file(
        cfg.get("input_dir"), "triplets.jsonl", config_key="input_dir", producer="synthesize"
    )
    return {"triplets": path}


def run(cfg: DictConfig) -> dict[str, float]:
    spec = STAGE.key_spec(cfg)
    trip_path = spec.inputs["triplets"]
    # Triplets of another benchmark would be rendered with this benchmark's renderer.
    data_benchmark = upstream_benchmark(cfg, trip_path, "input_dir") or str(cfg.benchmark.name)
    stage = StageRecord(cfg, STAGE, spec)
    if stage.done:
        return stage.previous_metrics()
    if cfg.train.data.batch_size < 1:
        raise ConfigError("train.data.batch_size must be >= 1")
    stage.tag(benchmark=data_benchmark)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    renderer = Renderer(**cfg.benchmark.render)
    loss = instantiate(cfg.loss)
    stage.record_code()  # the code this run's checkpoints come from, all loaded by now
    module = RewardModule(
        spec=instantiate(cfg.reward_model),
        loss=loss,
        optimizer=instantiate(cfg.train.optimizer),
        renderer=renderer,
        scheduler=instantiate(cfg.train.scheduler) if cfg.train.get("scheduler") else None,
        warmup_ratio=cfg.train.get("warmup_ratio"),
        lineage={
            "benchmark": data_benchmark,
            "split": upstream_split(trip_path),
            "triplets_key": input_key(trip_path),
            "train_key": stage.key,
            "reward_model": choice("reward_model"),
            "loss": choice("loss"),
            "git_sha": stage.manifest.data["git_sha"],
            "code_version": code_version(stage.manifest.data["code"]),
        },
    )
    data_cfg = dict(cfg.train.data)
    if data_cfg.get("negatives_per_example") is None:
        data_cfg["negatives_per_example"] = getattr(loss, "negatives_per_example", 1)
    data = TripletDataModule(
        str(trip_path),
        renderer,
        module.model.encode,
        module.model.collate,
        seed=int(cfg.seed),
        **data_cfg,
    )
    data.setup()
    has_val = bool(data.val)
    if not has_val:
        log.warning("train: no validation split (train.data.val_fraction=0 or too few groups)")
    ckpt_dir = stage.dir / CHECKPOINTS
    best = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor="rm/val/pair_acc" if has_val else None,
        mode="max",
        save_top_k=1,
        save_last=False,  # EpochCheckpoint writes last.ckpt every epoch
        # Judge the epoch when its validation ends, so that the last.ckpt EpochCheckpoint writes
        # at the epoch's end already holds this epoch's score (Lightning runs checkpoint
        # callbacks' on_train_epoch_end last): a resumed run keeps the same best.ckpt.
        save_on_train_epoch_end=False if has_val else None,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    meter = Throughput()
    quiet_lightning()
    # Log at least once an epoch and once a run: a small run (fewer batches or max_steps than
    # log_every_n_steps) would otherwise log no training loss and Lightning would warn about it.
    batches = -(-len(data.train) // int(cfg.train.data.batch_size))
    every = cfg.trainer.get("log_every_n_steps")
    max_steps = int(cfg.trainer.get("max_steps") or -1)
    cap = min(batches, max_steps) if max_steps > 0 else batches
    logging_kw: dict[str, Any] = (
        {"log_every_n_steps": max(1, min(int(every), cap))} if every else {}
    )
    if not has_val:
        logging_kw["limit_val_batches"] = 0  # nothing to validate (warned above)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        **logging_kw,
        callbacks=[best, EpochCheckpoint(ckpt_dir / "last.ckpt"), meter],
        logger=stage.loggers or False,
        default_root_dir=str(stage.dir),
    )
    metrics: dict[str, float] = {}
    resume = ckpt_dir / "last.ckpt"
    if has_val and not resume.exists():
        init = trainer.validate(module, datamodule=data, verbose=False)
        if init:
            metrics["rm/val/pair_acc_init"] = float(init[0]["rm/val/pair_acc"])
            metrics["rm/val/loss_init"] = float(init[0]["rm/val/loss"])
    started = time.perf_counter()
    # weights_only: a checkpoint is data, never code (no pickle of what may be an untrusted file).
    trainer.fit(
        module,
        datamodule=data,
        ckpt_path=str(resume) if resume.exists() else None,
        weights_only=True,
    )
    fit_s = time.perf_counter() - started
    if trainer.interrupted:
        raise SystemExit("train: interrupted; run the same command again to resume from last.ckpt")
    best_path = best.best_model_path or str(ckpt_dir / "last.ckpt")
    if has_val and best.best_model_score is None:
        # Stopped by max_steps before any epoch-end validation: validate the final weights now,
        # and they are the best we have.
        final = trainer.validate(module, datamodule=data, verbose=False)
        metrics["rm/val/pair_acc"] = float(final[0]["rm/val/pair_acc"])
        best_path = str(ckpt_dir / "best.ckpt")
        trainer.save_checkpoint(best_path, weights_only=False)  # as ModelCheckpoint saves it
    elif has_val and best.best_model_score is not None:
        metrics["rm/val/pair_acc"] = float(best.best_model_score)
    for key in ("rm/val/loss", "rm/val/margin", "rm/train/loss"):
        if key in trainer.callback_metrics:
            metrics[f"{key}_last"] = float(trainer.callback_metrics[key])
    metrics.update(
        {
            "rm/train/pairs_per_s": meter.pairs / meter.seconds if meter.seconds else 0.0,
            "rm/train/steps": float(meter.steps),
            "rm/train/fit_s": fit_s,
            "rm/data/train_pairs": float(data.stats["train_pairs"]),
            "rm/data/val_pairs": float(data.stats["val_pairs"]),
        }
    )
    if trainer.global_rank != 0:
        return metrics
    stage.count(
        benchmark=data_benchmark,
        checkpoint=str(Path(best_path).resolve()),
        data=data.stats,
        reward_model=choice("reward_model"),
        loss=choice("loss"),
        trainer=choice("trainer"),
    )
    return stage.finish(metrics, step=trainer.global_step)


STAGE = Stage(
    name="train",
    run=run,
    reads=("benchmark", "reward_model", "loss", "trainer", "train", "input_dir"),
    key=("benchmark.render", "reward_model", "loss", "train", "trainer", "seed"),
    inputs=inputs,
    unkeyed={
        "input_dir": "an input: keyed by its run's key",
        "benchmark.name": "checked against the triplets' benchmark, which enters with them",
    },
    artifacts=(f"{CHECKPOINTS}/best.ckpt", f"{CHECKPOINTS}/last.ckpt"),
)

if __name__ == "__main__":
    STAGE.main()
