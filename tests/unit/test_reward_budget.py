"""ARMAP's per-benchmark reward-model budgets (RM/RLHF/scripts/train_reward_*.sh) and the
warmup-as-a-ratio they use."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import pytest
import torch
import transformers
from hydra.utils import instantiate

from arm_exp.config import compose
from arm_exp.reward.losses import BradleyTerryLoss
from arm_exp.reward.module import RewardModule
from arm_exp.reward.render import Renderer
from arm_exp.reward.schedules import constant_with_warmup
from tests.conftest import ROOT

ARMAP = {  # lr, epochs, effective batch (GPUs x per-device batch x accumulation), max length
    "game24": (1e-5, 10, 64, 4000),
    "scienceworld": (1e-5, 10, 128, 4096),
    "webshop": (2e-5, 3, 4, 8192),
}


@pytest.mark.parametrize("benchmark", sorted(ARMAP))
def test_benchmark_configs_carry_armaps_training_budget(benchmark, tmp_path):
    cfg = compose(
        "train", [f"paths.root_dir={ROOT}", f"benchmark={benchmark}", "input_dir=x"], tmp_path
    )
    b = cfg.benchmark.reward_training
    assert (b.lr, b.epochs, b.effective_batch, b.max_length) == ARMAP[benchmark]
    assert (b.warmup_ratio, b.max_grad_norm) == (0.1, 0.3)


def test_warmup_ratio_counts_the_runs_optimizer_steps(tmp_path):
    cfg = compose("train", [f"paths.root_dir={ROOT}", "input_dir=x"], tmp_path)
    module = RewardModule(
        instantiate(cfg.reward_model),
        BradleyTerryLoss(),
        partial(torch.optim.AdamW, lr=1e-3),
        Renderer(),
        scheduler=partial(instantiate(cfg.train.scheduler).func, num_warmup_steps=3),
        warmup_ratio=0.1,
    )
    module.trainer = SimpleNamespace(estimated_stepping_batches=95)  # Lightning's own count
    (lam,) = module.configure_optimizers()["lr_scheduler"]["scheduler"].lr_lambdas
    assert [lam(i) for i in (0, 5, 9, 10, 60)] == [0.0, 0.5, 0.9, 1.0, 1.0]  # ceil(9.5) = 10
    with pytest.raises(ValueError, match="train.warmup_ratio"):
        RewardModule(instantiate(cfg.reward_model), BradleyTerryLoss(), torch.optim.AdamW,
                     Renderer(), warmup_ratio=1.5)  # fmt: skip


@pytest.mark.parametrize("warmup", [0, 1, 3, 10])
def test_our_constant_with_warmup_is_hugging_faces(warmup):
    """The default schedule (``train.scheduler``) is ``constant_with_warmup`` step by step."""
    ours, theirs = (
        make(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.5), num_warmup_steps=warmup)
        for make in (constant_with_warmup, transformers.get_constant_schedule_with_warmup)
    )
    seen = []
    for _ in range(15):
        seen.append((ours.get_last_lr(), theirs.get_last_lr()))
        for s in (ours, theirs):
            s.optimizer.step()
            s.step()
    assert [a for a, _ in seen] == [b for _, b in seen]


@pytest.mark.parametrize("benchmark", sorted(ARMAP))
def test_the_paper_experiment_trains_with_the_budget(benchmark, tmp_path):
    """experiment=armap: the train stage's optimizer, schedule, epochs, clip, length and the
    effective batch (per-step batch x gradient accumulation) are the benchmark's budget."""
    cfg = compose(
        "train",
        [f"paths.root_dir={ROOT}", "experiment=armap", f"benchmark={benchmark}", "input_dir=x"],
        tmp_path,
    )
    lr, epochs, effective, max_length = ARMAP[benchmark]
    assert cfg.train.optimizer.lr == lr and cfg.trainer.max_epochs == epochs
    assert cfg.train.data.batch_size * cfg.trainer.accumulate_grad_batches == effective
    assert cfg.reward_model.max_length == max_length
    assert (cfg.train.warmup_ratio, cfg.trainer.gradient_clip_val) == (0.1, 0.3)
