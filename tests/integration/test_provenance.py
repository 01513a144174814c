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


def _wandb_blob(run_dir) -> bytes:
    [run] = sorted((run_dir / "wandb").glob("offline-run-*"))
    return b"".join(p.read_bytes() for p in run.rglob("*") if p.is_file())


def test_plan_tags_name_the_reward_model_and_only_a_used_backbone(tiny_rm_ckpt, tmp_path,
                                                                  monkeypatch):  # fmt: skip
    """Tags are what a backbone comparison groups by: a plan run scored by a reward model
    carries its reward model and loss; a random policy loads no LLM, so no backbone."""
    pytest.importorskip("wandb")
    from arm_exp.artifacts import load_manifest
    from arm_exp.stages import plan

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    out = tmp_path / "plan"
    run_stage(plan, "plan", ["policy=random", "planner=best_of_n", "benchmark.planning.best_of_n=2",
                             "limit=1", "scorer=rm", f"rm_ckpt={tiny_rm_ckpt}", "logger=wandb"],
              out)  # fmt: skip
    tags = load_manifest(out)["tags"]
    for tag in ("plan", "benchmark:game24", "policy:random", "planner:best_of_n", "scorer:rm",
                "reward_model:minilm", "loss:bradley_terry"):  # fmt: skip
        assert tag in tags, tags
    assert not [t for t in tags if t.startswith("backbone:")], tags
    blob = _wandb_blob(out)
    assert b"reward_model:minilm" in blob and b"loss:bradley_terry" in blob
    assert b"backbone:" not in blob
