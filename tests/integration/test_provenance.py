"""Nothing skews a comparison silently: a stage refuses an input made on another benchmark, and
the readers of finished runs (report, notebooks, trackers) keep every run and say what they skip.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from arm_exp.config import ConfigError
from arm_exp.stages import train
from tests.conftest import ROOT, run_stage

TINY_TRAIN = ["trainer.max_steps=1", "reward_model.max_length=32", "train.data.batch_size=4",
              "trainer.enable_progress_bar=false"]  # fmt: skip


def test_train_refuses_triplets_of_another_benchmark(triplets_game24, tmp_path):
    # Game of 24 triplets rendered with WebShop's renderer would train a meaningless model.
    out = tmp_path / "train"
    with pytest.raises(ConfigError, match="made on benchmark 'game24' but benchmark=webshop"):
        run_stage(train, "train", ["benchmark=webshop", f"input_dir={triplets_game24}",
                                   *TINY_TRAIN], out)  # fmt: skip
    assert not (out / "manifest.json").exists(), "refused before the run dir is claimed"


def test_plan_refuses_a_reward_model_of_another_benchmark_in_one_line(tiny_rm_ckpt, tmp_path):
    out = tmp_path / "plan"
    proc = subprocess.run(
        [sys.executable, "-m", "arm_exp.stages.plan", "benchmark=webshop", "policy=random",
         "planner=best_of_n", "benchmark.planning.best_of_n=2", "limit=1",
         f"rm_ckpt={tiny_rm_ckpt}", f"hydra.run.dir={out}", f"paths.root_dir={ROOT}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("arm-exp plan: error: rm_ckpt=")
    assert "made on benchmark 'game24' but benchmark=webshop" in lines[0]
    assert "benchmark=game24" in lines[0]  # the fix, spelled out
    assert not out.exists(), "a refused run leaves no run dir behind"
