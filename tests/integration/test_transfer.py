"""Held-out transfer on purpose: a Game of 24 reward model guiding WebShop planning is refused
without ``plan.allow_rm_from`` and recorded with it (manifest, tracker tags, report column)."""

from __future__ import annotations

import csv

import pytest

from arm_exp.artifacts import load_manifest
from arm_exp.errors import ConfigError
from arm_exp.stages import plan, report
from tests.conftest import run_stage

WEBSHOP = ["benchmark=webshop", "policy=random", "planner=best_of_n", "planner.n=2", "limit=1"]


def test_refused_without_the_key_or_with_another_benchmark(tiny_rm_ckpt, tmp_path):
    for extra in ([], ["plan.allow_rm_from=alfworld"]):
        with pytest.raises(ConfigError) as err:
            run_stage(plan, "plan", [*WEBSHOP, f"rm_ckpt={tiny_rm_ckpt}", *extra], tmp_path / "p")
        text = str(err.value)
        assert "made on benchmark 'game24' but benchmark=webshop" in text
        assert "or plan.allow_rm_from=game24 to plan with it on purpose" in text
        assert "\n" not in text
        assert not (tmp_path / "p" / "manifest.json").exists()


def test_recorded_with_the_key(tiny_rm_ckpt, tmp_path):
    pytest.importorskip("bm25s")
    out = tmp_path / "plan"
    over = [*WEBSHOP, f"rm_ckpt={tiny_rm_ckpt}", "plan.allow_rm_from=game24"]
    metrics = run_stage(plan, "plan", over, out)
    assert metrics["plan/test/n_tasks"] == 1.0
    m = load_manifest(out)
    assert m["counts"]["rm_trained_on"] == "game24"
    assert m["counts"]["benchmark"].startswith("webshop")
    assert "rm_trained_on:game24" in m["tags"]
    assert m["config"]["plan"]["allow_rm_from"] == "game24"
    # the same reward model on its own benchmark: recorded too, no permission needed
    own = tmp_path / "own"
    run_stage(plan, "plan", ["policy=random", "planner.n=2", "limit=1",
                             f"rm_ckpt={tiny_rm_ckpt}"], own)  # fmt: skip
    assert load_manifest(own)["counts"]["rm_trained_on"] == "game24"
    rep = tmp_path / "report"
    run_stage(report, "report", [f"input_dirs=[{out},{own}]"], rep)
    rows = list(csv.DictReader((rep / "report.csv").open()))
    # the column names a reward model of another benchmark; its own leaves it empty
    assert sorted((r["benchmark"].split("_")[0], r["rm_trained_on"]) for r in rows) == [
        ("game24", ""), ("webshop", "game24"),
    ]  # fmt: skip
    pivot = (rep / "report_pivot.md").read_text()
    assert "| rm_trained_on |" in pivot.splitlines()[0]
