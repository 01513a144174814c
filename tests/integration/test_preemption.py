"""Preemption: SIGTERM / SIGINT during explore, synthesize, plan and train, then resume.

Each stage runs as ``python -m arm_exp.cli`` (the real entry point and its signal handling), is
signalled mid-way (it stops itself at a chosen record or training step and is signalled there:
:mod:`tests.integration.interrupt`, so it cannot finish first on a fast machine), and exits with
its JSONL flushed (no torn line) and its manifest incomplete.
Re-running the same command in the same dir resumes: the artifact is byte-identical to an
uninterrupted run (same record ids, none duplicated, none missing). Training resumes from
``last.ckpt`` and ends with the same weights as an uninterrupted run (same data order, same
dropout masks: the RNG state travels in the checkpoint).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from arm_exp.artifacts import load_manifest
from arm_exp.stages import explore, plan, synthesize, train
from tests.conftest import ROOT, assert_resumed_like_uninterrupted, run_stage
from tests.integration.interrupt import (
    signal_stopped,
    start,
    stop_after_records,
    stop_in_epoch,
    wait_stopped,
)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _interrupt(stage: str, overrides: list[str], run_dir: Path, watch: str, sig: int,
               records: int = 3) -> int:  # fmt: skip
    """Run the stage's CLI, send ``sig`` right after its ``records``-th record in ``watch``
    (:mod:`tests.integration.interrupt`); check what it left and return its line count."""
    stderr = run_dir.with_name(run_dir.name + ".stderr")
    with stderr.open("wb") as err_file:
        proc = start(
            ["arm_exp.cli", stage, *overrides, f"hydra.run.dir={run_dir}", f"paths.root_dir={ROOT}",
             *stop_after_records(watch, records)],
            stderr=err_file,
        )  # fmt: skip
        wait_stopped(proc)
        signal_stopped(proc, sig)
        proc.wait(timeout=120)
    err = stderr.read_bytes()
    assert proc.returncode != 0, err[-2000:]
    assert b"Traceback" not in err or sig == signal.SIGINT, err[-2000:]
    data = (run_dir / watch).read_bytes()
    assert data.endswith(b"\n"), "the interrupted stage left a torn line"
    for line in data.splitlines():
        json.loads(line)
    assert not load_manifest(run_dir)["complete"]
    return data.count(b"\n")


def _ids(path: Path) -> list[str]:
    return [json.loads(x)["id"] for x in path.read_text().splitlines()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_explore_resumes_exactly(tmp_path, sig):
    over = ["split=train", "limit=60", "explore.num_per_task=4", "seed=5"]
    run_stage(explore, "explore", over, tmp_path / "ref")
    assert _interrupt("explore", over, tmp_path / "cut", "trajectories.jsonl", sig, 20) == 20
    run_stage(explore, "explore", over, tmp_path / "cut")
    ref, cut = (tmp_path / d / "trajectories.jsonl" for d in ("ref", "cut"))
    assert _ids(cut) == _ids(ref) and cut.read_bytes() == ref.read_bytes()
    assert load_manifest(tmp_path / "cut")["counts"]["resumed"] == 20


def test_synthesize_resumes_exactly(tmp_path):
    src = tmp_path / "explored"
    run_stage(explore, "explore", ["split=train", "limit=60", "explore.num_per_task=4"], src)
    over = [f"input_dir={src}", "synthesis=rule", "synthesis.batch_size=4"]
    run_stage(synthesize, "synthesize", over, tmp_path / "ref")
    assert _lines(tmp_path / "ref" / "synthesis_progress.jsonl") > 5
    done = _interrupt(
        "synthesize", over, tmp_path / "cut", "synthesis_progress.jsonl", signal.SIGTERM, 5
    )
    assert done == 5
    run_stage(synthesize, "synthesize", over, tmp_path / "cut")
    for name in ("triplets.jsonl", "synthesis_progress.jsonl"):
        ref, cut = tmp_path / "ref" / name, tmp_path / "cut" / name
        assert _ids(cut) if name == "triplets.jsonl" else True
        assert cut.read_bytes() == ref.read_bytes(), name


def test_plan_resumes_exactly(tmp_path):
    over = ["policy=random", "planner=best_of_n", "planner.n=4", "scorer=oracle", "split=train",
            "limit=60", "seed=2"]  # fmt: skip
    ref_metrics = run_stage(plan, "plan", over, tmp_path / "ref")
    assert _interrupt("plan", over, tmp_path / "cut", "episodes.jsonl", signal.SIGINT, 5) == 5
    metrics = run_stage(plan, "plan", over, tmp_path / "cut")
    ref, cut = (tmp_path / d / "episodes.jsonl" for d in ("ref", "cut"))
    assert _ids(cut) == _ids(ref)
    strip = lambda m: {k: v for k, v in m.items() if "wall_s" not in k and "time" not in k}  # noqa: E731
    assert strip(metrics) == strip(ref_metrics)


TRAIN = [
    "reward_model.max_length=32",
    "train.data.batch_size=8",
    "train.data.train_fraction=0.3",
    "train.data.val_fraction=0.2",
    "trainer.max_epochs=3",
    "trainer.enable_progress_bar=false",
]


@pytest.mark.slow
def test_train_resumes_from_last_ckpt_to_the_same_weights(tmp_path, triplets_game24):
    over = [f"input_dir={triplets_game24}", *TRAIN]
    run_stage(train, "train", over, tmp_path / "ref")
    cut = tmp_path / "cut"
    # Cut inside epoch 2, after its first step: last.ckpt (end of epoch 1) exists by then.
    proc = start(["arm_exp.cli", "train", *over, f"hydra.run.dir={cut}", f"paths.root_dir={ROOT}",
                  *stop_in_epoch(1)])  # fmt: skip
    wait_stopped(proc)
    last = cut / "checkpoints" / "last.ckpt"
    assert last.exists()
    signal_stopped(proc, signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode != 0 and not load_manifest(cut)["complete"]
    step_at_cut = torch.load(last, map_location="cpu", weights_only=True)["global_step"]

    run_stage(train, "train", over, cut)
    assert_resumed_like_uninterrupted(
        tmp_path / "ref" / "checkpoints" / "last.ckpt", last, step_at_cut
    )
