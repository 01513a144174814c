"""``trainer=ddp`` inside a SLURM job as ``launcher=submitit_slurm`` makes it: one task per job
(``tasks_per_node: 1``), N GPUs. Lightning's SLURM detection took that one task for the whole
world (world size 1 with devices=N: one GPU trained, the others idled); our trainer configs run
Lightning's own launcher instead, which starts a process per device. The SLURM environment is
simulated with the variables srun/sbatch set."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate

from arm_exp.config import compose

SLURM = {
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NAME": "arm-exp",
    "SLURM_NTASKS": "1",
    "SLURM_NTASKS_PER_NODE": "1",
    "SLURM_NODELIST": "gpu-node-1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_CPUS_ON_NODE": "8",
}


@pytest.mark.parametrize("devices", [2, 8])
def test_ddp_in_a_one_task_slurm_job_uses_every_device(monkeypatch, tmp_path, devices):
    for k, v in SLURM.items():
        monkeypatch.setenv(k, v)
    cfg = compose(
        "train",
        ["trainer=ddp", "trainer.accelerator=cpu", f"trainer.devices={devices}",
         "trainer.precision=32-true"],
        tmp_path,
    )  # fmt: skip
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert trainer.world_size == devices
    assert type(trainer.strategy.cluster_environment).__name__ == "LightningEnvironment"


def test_fsdp_takes_the_same_launcher(tmp_path):
    cfg = compose("train", ["trainer=fsdp"], tmp_path)
    targets = [p["_target_"] for p in cfg.trainer.plugins]
    assert targets == ["lightning.fabric.plugins.environments.LightningEnvironment"]
