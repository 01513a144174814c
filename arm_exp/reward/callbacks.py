"""Lightning plumbing for training the reward model (``arm-exp train``): the callbacks that time
training and write ``last.ckpt`` every epoch, and the silencing of Lightning's noise."""

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
from lightning.pytorch.callbacks import Callback


class Throughput(Callback):
    """Training pairs (a process reward model's: prefixes) per second, timed over training
    batches only (validation excluded)."""

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
        self.pairs += int(batch["neg_mask"].sum()) if "neg_mask" in batch else len(batch["labels"])
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
