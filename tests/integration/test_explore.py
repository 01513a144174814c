"""The explore stage end to end: both explorers, skip-when-complete, kill-and-resume."""

from __future__ import annotations

import json

import pytest

from arm_exp.artifacts import load_manifest
from arm_exp.errors import ArtifactError
from arm_exp.stages import explore
from arm_exp.types import Trajectory
from tests.conftest import ROOT
from tests.integration.interrupt import start, stop_after_records, wait_stopped


def _read(path):
    return [Trajectory.from_dict(json.loads(x)) for x in path.read_text().splitlines()]


def test_random_explorer_writes_trajectories_and_manifest(make_cfg, tmp_path):
    cfg = make_cfg("explore", ["limit=5", "explore.num_per_task=3", "split=train"], tmp_path / "r")
    metrics = explore.run(cfg)
    trajs = _read(tmp_path / "r" / "trajectories.jsonl")
    assert [t.id for t in trajs] == [
        f"{t}#{k}" for t in ["0", "1", "2", "3", "4"] for k in range(3)
    ] and metrics["explore/train/n_trajectories"] == 15
    for t in trajs:
        assert t.done and t.steps[-1].action.startswith("Answer:")
        assert t.score in (0.0, 1.0) and t.success == (t.score == 1.0)
    m = load_manifest(tmp_path / "r")
    assert m["complete"] and m["counts"]["trajectories"] == 15 and m["key"]
    assert m["config"]["explore"]["num_per_task"] == 3
    assert json.loads((tmp_path / "r" / "metrics.json").read_text()) == metrics
    # A second run in the same dir with the same config does nothing.
    before = (tmp_path / "r" / "trajectories.jsonl").read_bytes()
    assert (
        explore.run(
            make_cfg(
                "explore", ["limit=5", "explore.num_per_task=3", "split=train"], tmp_path / "r"
            )
        )
        == metrics
    )
    assert (tmp_path / "r" / "trajectories.jsonl").read_bytes() == before
    # Another config in the same dir is refused rather than mixed in.
    with pytest.raises(ArtifactError, match="another config"):
        explore.run(
            make_cfg(
                "explore", ["limit=6", "explore.num_per_task=3", "split=train"], tmp_path / "r"
            )
        )


def test_same_seed_same_bytes(make_cfg, tmp_path):
    over = ["limit=20", "explore.num_per_task=2", "seed=3"]
    explore.run(make_cfg("explore", over, tmp_path / "a"))
    explore.run(make_cfg("explore", over, tmp_path / "b"))
    a = (tmp_path / "a" / "trajectories.jsonl").read_bytes()
    assert a == (tmp_path / "b" / "trajectories.jsonl").read_bytes()
    explore.run(make_cfg("explore", [*over[:2], "seed=4"], tmp_path / "c"))
    assert a != (tmp_path / "c" / "trajectories.jsonl").read_bytes()


def test_llm_explorer_with_embedded_model(make_cfg, tmp_path, smollm2):
    cfg = make_cfg(
        "explore",
        [
            "explorer=llm",
            "split=test",
            "task_ids=[900,901]",
            "explore.num_per_task=1",
            "benchmark.max_steps=4",
            "benchmark.step_feedback=true",
            "explore.invalid_action_retries=1",
            "benchmark.agent.max_tokens=24",
        ],
        tmp_path / "llm",
    )
    metrics = explore.run(cfg)
    trajs = _read(tmp_path / "llm" / "trajectories.jsonl")
    assert [t.id for t in trajs] == ["900#0", "901#0"]
    assert all(1 <= len(t.steps) <= 4 for t in trajs)
    assert metrics["explore/test/llm_calls"] >= 1 and metrics["explore/test/completion_tokens"] > 0
    # Rejected (invalid) proposals are kept for inspection, never crash the run.
    for t in trajs:
        for r in t.meta.get("rejected", []):
            assert {"step", "action", "observation"} <= set(r)


def test_killed_run_resumes_to_the_same_records(make_cfg, tmp_path):
    over = ["split=train", "limit=60", "explore.num_per_task=8", "seed=11"]
    reference = tmp_path / "reference"
    explore.run(make_cfg("explore", over, reference))
    total = len((reference / "trajectories.jsonl").read_text().splitlines())

    run_dir = tmp_path / "killed"
    # The run stops itself after its 100th record and is killed there (SIGKILL: no cleanup).
    proc = start(["arm_exp.cli", "explore", *over, f"hydra.run.dir={run_dir}",
                  f"paths.root_dir={ROOT}", *stop_after_records("trajectories.jsonl", 100)])  # fmt: skip
    wait_stopped(proc)
    proc.kill()
    proc.wait()
    out = run_dir / "trajectories.jsonl"
    partial = out.read_text().splitlines()
    assert len(partial) == 100 < total
    with out.open("a") as f:
        f.write('{"id": "torn')  # a write cut short by the kill
    assert not load_manifest(run_dir)["complete"]

    explore.run(make_cfg("explore", over, run_dir))
    assert out.read_bytes() == (reference / "trajectories.jsonl").read_bytes()
    assert load_manifest(run_dir)["counts"]["resumed"] == len(partial)
