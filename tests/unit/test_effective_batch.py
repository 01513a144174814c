"""The paper's effective batch (``benchmark.reward_training.effective_batch``) whatever the number
of devices: ``experiment=armap`` accumulates ``effective / (batch x devices)`` micro-batches."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from arm_exp.config import compose, grad_accumulation


@pytest.mark.parametrize(("devices", "batch", "expected"), [(1, 4, 4), (2, 4, 2), (8, 2, 1)])
def test_accumulation_divides_by_the_devices(devices, batch, expected):
    assert grad_accumulation(16, batch, devices) == expected
    assert grad_accumulation(16, batch, list(range(devices))) == expected  # a list of GPU ids


def test_all_gpus_counts_what_this_job_sees(monkeypatch):
    for count in (1, 2, 8):
        monkeypatch.setattr(torch.cuda, "device_count", lambda count=count: count)
        assert grad_accumulation(16, 2, -1) == 16 // (2 * count)
        assert grad_accumulation(16, 2, "auto") == 16 // (2 * count)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert grad_accumulation(16, 2, -1) == 8  # no GPU: one device


def test_a_remainder_is_refused_naming_the_keys():
    with pytest.raises(ValueError, match=r"train.data.batch_size=4 x 8 device\(s\)"):
        grad_accumulation(16, 4, 8)


@pytest.mark.parametrize("devices", [1, 2, 8])
def test_armap_keeps_the_paper_batch_on_any_number_of_devices(devices, tmp_path):
    cfg = compose(
        "train",
        [
            "experiment=armap",
            "benchmark=scienceworld_seen",
            "trainer=ddp",
            f"trainer.devices={devices}",
            "train.data.batch_size=1",
        ],
        tmp_path,
    )
    effective = cfg.benchmark.reward_training.effective_batch
    steps = OmegaConf.select(cfg, "trainer.accumulate_grad_batches")
    assert steps * cfg.train.data.batch_size * devices == effective
