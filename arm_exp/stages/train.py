"""``arm-exp train``: train the reward model on ``triplets.jsonl`` with Lightning.

Reads ``<input_dir>/triplets.jsonl`` (the run dir of ``arm-exp synthesize``), or, for a loss
that learns from values (``loss=prm_bce|prm_mse``: a process reward model, beyond ARMAP),
``<input_dir>/values.jsonl`` (``synthesis=mc_values``); given the other kind, it says so in one
line. Writes
``checkpoints/best.ckpt`` (best ``rm/val/pair_acc``) and ``checkpoints/last.ckpt``; the best one
is what ``rm_ckpt=`` takes, and ``RewardScorer.from_checkpoint`` needs nothing else. The
validation pair accuracy of the untrained model is measured first (``rm/val/pair_acc_init``), so
the lift from training is visible. An interrupted run resumes from ``last.ckpt``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from omegaconf import DictConfig

from arm_exp.artifacts import code_version, input_file, input_key
from arm_exp.config import choice
from arm_exp.errors import ConfigError
from arm_exp.reward.callbacks import EpochCheckpoint, Throughput, quiet_lightning
from arm_exp.reward.data import TripletDataModule, ValueDataModule
from arm_exp.reward.module import RewardModule
from arm_exp.reward.render import Renderer
from arm_exp.stages.base import Stage
from arm_exp.stages.record import StageRecord, upstream_benchmark, upstream_split

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


# What each kind of loss learns from (its class's ``learns_from``), and the file holding it.
RECORDS = {"triplets": "triplets.jsonl", "values": "values.jsonl"}


def learns_from(cfg: DictConfig) -> str:
    """``triplets`` (a preference loss, ARMAP's) or ``values`` (a pointwise loss)."""
    return str(getattr(get_class(str(cfg.loss._target_)), "learns_from", "triplets"))


def inputs(cfg: DictConfig) -> dict[str, Path]:
    """The synthesize run's triplets or values (``input_dir``), whichever the loss learns from."""
    wanted = learns_from(cfg)
    given = cfg.get("input_dir")
    other = next(k for k in RECORDS if k != wanted)
    if (
        given
        and not (Path(given) / RECORDS[wanted]).exists()
        and (Path(given) / RECORDS[other]).exists()
    ):
        fix = (
            "pass loss=prm_bce or loss=prm_mse"
            if other == "values"
            else "synthesize with synthesis=mc_values, or pass a preference loss"
        )
        raise ConfigError(
            f"input_dir={given} holds {RECORDS[other]} but loss={choice('loss', 'loss')} "
            f"learns from {wanted} ({RECORDS[wanted]}): {fix}"
        )
    path = input_file(given, RECORDS[wanted], config_key="input_dir", producer="synthesize")
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
    module = build_module(cfg, stage, trip_path, data_benchmark)
    data = build_data(cfg, trip_path, module)
    ckpt_dir = stage.dir / CHECKPOINTS
    best = best_checkpoint(ckpt_dir, has_val=bool(data.val))
    meter = Throughput()
    trainer = build_trainer(
        cfg, stage, data, callbacks=[best, EpochCheckpoint(ckpt_dir / "last.ckpt"), meter]
    )
    initial, fit_s = fit(trainer, module, data, resume=ckpt_dir / "last.ckpt")
    best_path, final = final_metrics(trainer, module, data, best, ckpt_dir)
    metrics = {
        **initial,
        **final,
        "rm/train/pairs_per_s": meter.pairs / meter.seconds if meter.seconds else 0.0,
        "rm/train/steps": float(meter.steps),
        "rm/train/fit_s": fit_s,
        **{
            f"rm/data/{k}": float(data.stats[k])
            for k in ("train_pairs", "val_pairs", "train_examples", "val_examples")
            if k in data.stats
        },
    }
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


def build_module(
    cfg: DictConfig, stage: StageRecord, trip_path: Path, data_benchmark: str
) -> RewardModule:
    """The reward model with its loss and optimizer, and the lineage its checkpoints carry."""
    renderer = Renderer(**cfg.benchmark.render)
    loss = instantiate(cfg.loss)
    stage.record_code()  # the code this run's checkpoints come from, all loaded by now
    return RewardModule(
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


def build_data(cfg: DictConfig, trip_path: Path, module: RewardModule) -> TripletDataModule:
    """The triplets (or values) rendered and encoded for ``module``, split into train and
    validation."""
    data_cfg = dict(cfg.train.data)
    if data_cfg.get("negatives_per_example") is None:
        data_cfg["negatives_per_example"] = getattr(module.loss_fn, "negatives_per_example", 1)
    kind = ValueDataModule if module.pointwise else TripletDataModule
    data = kind(
        str(trip_path),
        module.renderer,
        module.model.encode,
        module.model.collate,
        seed=int(cfg.seed),
        **data_cfg,
    )
    data.setup()
    if not data.val:
        log.warning("train: no validation split (train.data.val_fraction=0 or too few groups)")
    return data


def best_checkpoint(ckpt_dir: Path, has_val: bool) -> ModelCheckpoint:
    """Keeps ``best.ckpt``: the best ``rm/val/pair_acc``, or the last weights without validation."""
    return ModelCheckpoint(
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


def build_trainer(
    cfg: DictConfig, stage: StageRecord, data: TripletDataModule, callbacks: list[Callback]
) -> L.Trainer:
    """``cfg.trainer`` with the callbacks, the stage's loggers and a logging interval that fits."""
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
    if not data.val:
        logging_kw["limit_val_batches"] = 0  # nothing to validate (warned by build_data)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        **logging_kw,
        callbacks=callbacks,
        logger=stage.loggers or False,
        default_root_dir=str(stage.dir),
    )
    return trainer


def fit(
    trainer: L.Trainer, module: RewardModule, data: TripletDataModule, resume: Path
) -> tuple[dict[str, float], float]:
    """Train (from ``resume`` if it exists); returns the untrained model's validation metrics
    (a fresh run with a validation split only) and the seconds ``fit`` took."""
    initial: dict[str, float] = {}
    if data.val and not resume.exists():
        init = trainer.validate(module, datamodule=data, verbose=False)
        if init:
            initial["rm/val/pair_acc_init"] = float(init[0]["rm/val/pair_acc"])
            initial["rm/val/loss_init"] = float(init[0]["rm/val/loss"])
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
    return initial, fit_s


def final_metrics(
    trainer: L.Trainer,
    module: RewardModule,
    data: TripletDataModule,
    best: ModelCheckpoint,
    ckpt_dir: Path,
) -> tuple[str, dict[str, float]]:
    """The path of the best weights, their validation pair accuracy and the last logged losses."""
    metrics: dict[str, float] = {}
    best_path = best.best_model_path or str(ckpt_dir / "last.ckpt")
    if data.val and best.best_model_score is None:
        # Stopped by max_steps before any epoch-end validation: validate the final weights now,
        # and they are the best we have.
        final = trainer.validate(module, datamodule=data, verbose=False)
        metrics["rm/val/pair_acc"] = float(final[0]["rm/val/pair_acc"])
        best_path = str(ckpt_dir / "best.ckpt")
        trainer.save_checkpoint(best_path, weights_only=False)  # as ModelCheckpoint saves it
    elif data.val and best.best_model_score is not None:
        metrics["rm/val/pair_acc"] = float(best.best_model_score)
    for key in ("rm/val/loss", "rm/val/margin", "rm/train/loss"):
        if key in trainer.callback_metrics:
            metrics[f"{key}_last"] = float(trainer.callback_metrics[key])
    return best_path, metrics


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
