"""``planner.objective`` through the plan and report stages on WebShop's mini catalog."""

from __future__ import annotations

import pytest

from arm_exp.stages import plan, report
from arm_exp.stages.report import read_report
from tests.conftest import run_stage

pytest.importorskip("bm25s")

COMMON = [
    "benchmark=webshop",
    "policy=random",
    "planner=best_of_n",
    "planner.n=6",
    "scorer=oracle",
    "limit=5",
]


def test_objective_is_applied_and_reported_separately(tmp_path):
    plain = run_stage(plan, "plan", COMMON, tmp_path / "runs" / "plain")
    # A tiny weight only breaks the oracle's ties: same scores, never more actions.
    objective = ["objective=fewer_actions", "planner.objective.weight=0.001"]
    short = run_stage(plan, "plan", [*COMMON, *objective], tmp_path / "runs" / "short")
    cheap = run_stage(plan, "plan", [*COMMON, "objective=lower_price"], tmp_path / "runs" / "cheap")
    for m in (plain, short, cheap):
        assert m["plan/test/actions"] > 0 and "plan/test/score" in m
    assert "plan/test/objective_value" not in plain
    assert short["plan/test/score"] == plain["plan/test/score"]
    assert short["plan/test/actions"] <= plain["plan/test/actions"]
    assert short["plan/test/objective_value"] == -short["plan/test/actions"]
    assert cheap["plan/test/objective_value"] <= 0

    run_stage(report, "report", [f"input_dir={tmp_path / 'runs'}"], tmp_path / "report")
    rows = {r["objective"]: r for r in read_report(tmp_path / "report")}
    assert set(rows) == {"", "fewer_actions(w=0.001)", "lower_price(w=1)"}
    for r in rows.values():
        assert r["planner"] == "best_of_n" and float(r["actions"]) > 0 and r["n_tasks"] == "5"
    assert float(rows["fewer_actions(w=0.001)"]["actions"]) == pytest.approx(
        short["plan/test/actions"], rel=1e-5
    )
    if "plan/test/price_paid" in cheap:
        assert float(rows["lower_price(w=1)"]["price_paid"]) == pytest.approx(
            cheap["plan/test/price_paid"],
            rel=1e-5,  # the CSV keeps 6 digits
        )
    md = (tmp_path / "report" / "report.md").read_text()
    assert "best_of_n + fewer_actions(w=0.001)" in md and "price paid" in md


def test_objective_with_a_single_trajectory_planner_is_refused(make_cfg, tmp_path):
    over = ["benchmark=webshop", "policy=random", "planner=greedy", "scorer=none"]
    cfg = make_cfg("plan", [*over, "objective=fewer_actions", "limit=1"], tmp_path)
    with pytest.raises(Exception, match="needs planner=best_of_n, reflexion or mcts"):
        plan.run(cfg)
