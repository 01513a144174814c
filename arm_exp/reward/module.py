"""The Lightning module that trains a reward model on preference examples.

Logs ``rm/train/loss``, ``rm/train/pair_acc``, ``rm/val/loss``, ``rm/val/pair_acc`` (share of
validation pairs with r+ > r-) and ``rm/val/margin`` (mean r+ - r-). Checkpoints carry, besides
the weights, a plain-data ``arm_exp`` entry (model spec, renderer, validation score calibration,
and the lineage ``train`` gives: what data and code made it) so that
``RewardScorer.from_checkpoint(path)`` needs nothing else and a copied file still says where it
comes from, and they load with ``torch.load(weights_only=True)``. With LoRA only the adapters and the head are saved.

A pointwise loss (``learns_from = "values"``: a process reward model on Monte Carlo values)
trains on batches of single prefixes with ``labels``; its ``rm/*/pair_acc`` is the share of
prefix pairs with different values that the scores order right (over the whole validation
epoch), so the same checkpoint choice applies; the calibration's positives are the validation
prefixes valued >= 0.5, its negatives the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
from torch import nn

from arm_exp.artifacts import CKPT_KEY
from arm_exp.reward.model import Calibration, RewardModelSpec
from arm_exp.reward.render import Renderer


class RewardModule(L.LightningModule):
    """Args:
    spec: the reward model to build (backbone + head).
    loss: a preference loss ``(r_pos [B], r_neg [B, K], mask [B, K]) -> scalar``.
    optimizer: ``params -> torch.optim.Optimizer`` (a Hydra partial).
    scheduler: ``optimizer -> LR scheduler`` stepped every step, or None.
    renderer: how (intent, trajectory) became text (stored in checkpoints).
    warmup_ratio: when set, the scheduler's ``num_warmup_steps`` is this share of the run's
        optimizer steps (ARMAP: 0.1 of all steps, ``--warmup_ratio 0.1``), counted by Lightning
        (``estimated_stepping_batches``: epochs, ``max_steps`` and gradient accumulation
        included); None keeps the scheduler's own ``num_warmup_steps``.
    lineage: plain data saved in every checkpoint (``benchmark``, ``split``, ``triplets_key``,
        ``train_key``, ``reward_model``, ``loss``, ``git_sha``, ``code_version``).
    """

    def __init__(
        self,
        spec: RewardModelSpec,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        renderer: Renderer,
        scheduler: Callable[..., Any] | None = None,
        warmup_ratio: float | None = None,
        lineage: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.lineage = dict(lineage or {})
        if warmup_ratio is not None and not 0 <= warmup_ratio < 1:
            raise ValueError(f"train.warmup_ratio={warmup_ratio}: must be in [0, 1)")
        self.warmup_ratio = warmup_ratio
        self.spec = spec
        self.model = spec.build()
        self.loss_fn = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.renderer = renderer
        self.calibration = Calibration()
        self.pointwise = getattr(loss, "learns_from", "triplets") == "values"
        self._val_pos: list[float] = []
        self._val_neg: list[float] = []
        self._val_scores: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []
        # LoRA checkpoints hold only the trained weights; the base comes from the backbone id.
        self.strict_loading = not spec.lora

    def on_train_epoch_start(self) -> None:
        # from_pretrained() returns the backbone in eval mode (dropout off); training wants train.
        self.model.train()

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        rewards = self.model(batch["input_ids"], batch["attention_mask"])
        return rewards[batch["pos_index"]], rewards[batch["neg_index"]]

    def _point_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        scores = self.model(batch["input_ids"], batch["attention_mask"])
        labels = batch["labels"]
        acc, pairs = concordance(scores, labels)
        return {"loss": self.loss_fn(scores, labels), "pair_acc": acc, "pairs": pairs,
                "scores": scores, "labels": labels}  # fmt: skip

    def _step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        r_pos, r_neg = self(batch)
        mask = batch["neg_mask"]
        diff = (r_pos.unsqueeze(1) - r_neg)[mask]
        return {
            "loss": self.loss_fn(r_pos, r_neg, mask),
            "pair_acc": (diff > 0).float().mean(),
            "margin": diff.mean(),
            "r_pos": r_pos,
            "r_neg": r_neg[mask],
            "pairs": torch.tensor(float(mask.sum())),
        }

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.pointwise:
            out = self._point_step(batch)
            self.log("rm/train/loss", out["loss"], prog_bar=True, batch_size=len(out["labels"]))
            if out["pairs"] > 0:  # a batch of equal values orders nothing
                self.log("rm/train/pair_acc", out["pair_acc"], batch_size=int(out["pairs"]))
            return out["loss"]
        out = self._step(batch)
        n = int(batch["neg_mask"].sum())
        self.log("rm/train/loss", out["loss"], prog_bar=True, batch_size=n)
        self.log("rm/train/pair_acc", out["pair_acc"], batch_size=n)
        return out["loss"]

    def on_validation_epoch_start(self) -> None:
        self._val_pos, self._val_neg = [], []
        self._val_scores, self._val_labels = [], []

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        if self.pointwise:
            out = self._point_step(batch)
            n = len(out["labels"])
            self.log("rm/val/loss", out["loss"], batch_size=n, sync_dist=True)
            self._val_scores.append(out["scores"].detach().float().cpu())
            self._val_labels.append(out["labels"].detach().float().cpu())
            return
        out = self._step(batch)
        n = int(batch["neg_mask"].sum())
        self.log("rm/val/loss", out["loss"], batch_size=n, sync_dist=True)
        self.log("rm/val/pair_acc", out["pair_acc"], prog_bar=True, batch_size=n, sync_dist=True)
        self.log("rm/val/margin", out["margin"], batch_size=n, sync_dist=True)
        self._val_pos += out["r_pos"].detach().float().cpu().tolist()
        self._val_neg += out["r_neg"].detach().float().cpu().tolist()

    def on_validation_epoch_end(self) -> None:
        if self.pointwise and self._val_scores:
            scores, labels = torch.cat(self._val_scores), torch.cat(self._val_labels)
            acc, _ = concordance(scores, labels)
            self.log("rm/val/pair_acc", acc, prog_bar=True, sync_dist=True)
            self._val_pos = scores[labels >= 0.5].tolist()
            self._val_neg = scores[labels < 0.5].tolist()
        if not self.trainer.sanity_checking:
            self.calibration = Calibration(self._val_pos, self._val_neg)

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """``trainer.gradient_clip_val`` under every strategy: FSDP shards the gradients, so the
        norm is FSDP's own over all shards (Lightning's precision plugin refuses to clip an FSDP
        model by norm); otherwise Lightning's clipping."""
        from torch.distributed.fsdp import FullyShardedDataParallel

        model = self.trainer.strategy.model
        if gradient_clip_val and isinstance(model, FullyShardedDataParallel):
            if gradient_clip_algorithm not in (None, "norm"):
                raise ValueError(
                    f"trainer.gradient_clip_algorithm={gradient_clip_algorithm!r}: FSDP clips "
                    "by norm only"
                )
            model.clip_grad_norm_(gradient_clip_val)
            return
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params)
        if self.scheduler_factory is None:
            return optimizer
        if self.warmup_ratio is None:
            scheduler = self.scheduler_factory(optimizer)
        else:
            total = int(self.trainer.estimated_stepping_batches)
            warmup = math.ceil(self.warmup_ratio * total)
            scheduler = self.scheduler_factory(optimizer, num_warmup_steps=warmup)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CKPT_KEY] = {
            "spec": self.spec.config(),
            "renderer": self.renderer.config(),
            "calibration": asdict(self.calibration),
            "lineage": self.lineage,
        }
        if self.spec.lora:
            keep = {f"model.{k}" for k in self.model.trainable_state_dict()}
            checkpoint["state_dict"] = {
                k: v for k, v in checkpoint["state_dict"].items() if k in keep
            }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        cal = checkpoint.get(CKPT_KEY, {}).get("calibration")
        if cal:
            self.calibration = Calibration(**cal)


def concordance(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(share of the pairs with ``labels[i] > labels[j]`` where ``scores[i] > scores[j]``, number
    of such pairs); the share is 0.5 (chance) when there is no such pair."""
    higher = labels.unsqueeze(1) > labels.unsqueeze(0)
    pairs = higher.sum()
    if pairs == 0:
        return torch.tensor(0.5), pairs.float()
    right = (scores.unsqueeze(1) > scores.unsqueeze(0)) & higher
    return right.sum().float() / pairs.float(), pairs.float()
