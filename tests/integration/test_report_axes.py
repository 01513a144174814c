"""`report` on real sweeps: rows are what differs (upstream settings included), seeds are
repeats of a row and tasks the statistical unit, each row is compared with the baseline, and a
W&B copy of a manifest changes nothing. (The notebooks on a pipeline sweep dir:
tests/integration/test_sweeps.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from arm_exp.errors import ConfigError
from arm_exp.stages import plan, report, train
from arm_exp.stages.report import find_plan_runs, read_report
from tests.conftest import run_stage
from tests.integration.test_sweeps import arm_exp

BON4 = "benchmark.planning.best_of_n=4"


@pytest.fixture(scope="module")
def seed_sweep(tmp_path_factory) -> Path:
    """`arm-exp plan -m` (a real sweep, with Hydra's records in each job's .hydra): 2 seeds x
    (Best-of-N with the oracle, sampling) on 4 puzzles."""
    sweep = tmp_path_factory.mktemp("seed_sweep") / "sweep"
    out = arm_exp(
        "plan", "-m", "seed=0,1", "planner=best_of_n,sampling", "scorer=oracle", "policy=random",
        "benchmark=game24", "limit=4", BON4, f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return sweep


def test_seeds_pool_into_one_row_counted_by_task_and_compared_with_the_baseline(
    seed_sweep, tmp_path
):
    run_stage(report, "report", [f"input_dir={seed_sweep}"], tmp_path)
    rows = {r["planner"]: r for r in read_report(tmp_path)}
    assert sorted(rows) == ["best_of_n", "sampling"]  # the seeds are not rows, nor planner.seed
    for r in rows.values():
        assert (r["n_tasks"], r["runs"], r["repeats"]) == ("4", "2", "2")
        assert float(r["ci_low"]) <= float(r["success_rate"]) <= float(r["ci_high"])
        # the mean across seeds equals the rate over tasks (every task ran in every seed)
        assert float(r["repeat_mean"]) == pytest.approx(float(r["success_rate"]), abs=1e-6)
    bon, sampling = rows["best_of_n"], rows["sampling"]
    # sampling has no scorer: the default baseline (scorer=none); Best-of-N compared with it on
    # the same 4 tasks, seeds averaged per task first: the paired bootstrap
    assert sampling["scorer"] == "none" and sampling["baseline"] == ""
    assert bon["baseline"] == "game24/test/random/sampling/none"
    assert (bon["paired_tasks"], bon["test"]) == ("4", "paired_bootstrap")
    diff = float(bon["success_rate"]) - float(sampling["success_rate"])
    assert float(bon["diff"]) == pytest.approx(diff, abs=1e-6)
    assert float(bon["diff_ci_low"]) <= float(bon["diff"]) <= float(bon["diff_ci_high"])
    assert 0.0 < float(bon["p_value"]) <= 1.0
    md = (tmp_path / "report.md").read_text()
    assert "| repeats: mean ± std % |" in md and "| baseline |" in md
    assert "pooled as repeats of a row (report.pool): seed (up to 2 per row)" in md
    assert "(paired bootstrap, 4 tasks)" in md
    keys = set((tmp_path / "metrics.json").read_text().split('"'))
    assert "report/game24/test/random/best_of_n/oracle/success_rate" in keys

    # report.pool=[]: the seeds split, one exact McNemar test per row against seed 0's sampling
    split = tmp_path / "split"
    overrides = ["report.pool=[]", "report.baseline={planner:sampling,seed:0}"]
    run_stage(report, "report", [f"input_dir={seed_sweep}", *overrides], split)
    rows3 = read_report(split)
    assert sorted((r["planner"], r["seed"]) for r in rows3) == [
        ("best_of_n", "0"), ("best_of_n", "1"), ("sampling", "0"), ("sampling", "1")
    ]  # fmt: skip
    assert all(r["n_tasks"] == "4" and r["repeats"] == "1" for r in rows3)
    tested = [r for r in rows3 if r["baseline"]]
    assert len(tested) == 3 and {r["test"] for r in tested} == {"mcnemar_exact"}
    # a baseline that is no {column: value} is refused, naming the key, before anything is written
    with pytest.raises(
        ConfigError, match=r"report.baseline='sampling': expected \{column: value\}"
    ):
        run_stage(report, "report", [f"input_dir={seed_sweep}", "report.baseline=sampling"],
                  tmp_path / "bad")  # fmt: skip
    assert not (tmp_path / "bad").exists()


def test_a_wandb_copy_of_a_manifest_is_not_a_run(seed_sweep, tmp_path):
    """W&B keeps a copy of the run's manifest among its files (``wandb/offline-run-*/files``):
    report counts only a run dir's own, so ``logger=wandb`` never changes what it finds."""
    sweep = tmp_path / "plan_runs"
    shutil.copytree(seed_sweep, sweep)
    runs = sorted(d.resolve() for d in sweep.iterdir() if (d / "manifest.json").exists())
    for run in runs:
        files = run / "wandb" / "offline-run-20261206_000000-abc" / "files"
        files.mkdir(parents=True)
        shutil.copy(run / "manifest.json", files / "manifest.json")
    assert find_plan_runs([sweep]) == runs and len(runs) == 4
    run_stage(report, "report", [f"input_dir={sweep}"], tmp_path / "report")
    assert len(read_report(tmp_path / "report")) == 2


def test_an_upstream_train_setting_is_a_column(triplets_game24, tiny_rm_ckpt, tmp_path):
    """A sweep over `train.data.train_fraction` differs only upstream of plan: report follows
    each plan run's checkpoint to its train run and shows the fraction as a column."""
    half = tmp_path / "train_half"
    run_stage(train, "train", [f"input_dir={triplets_game24}", "trainer.max_steps=1",
                               "reward_model.max_length=32", "train.data.batch_size=4",
                               "trainer.enable_progress_bar=false",
                               "train.data.train_fraction=0.5"], half)  # fmt: skip
    sweep = tmp_path / "sweep"
    for name, ckpt in [("full", tiny_rm_ckpt), ("half", half / "checkpoints" / "best.ckpt")]:
        run_stage(plan, "plan", ["benchmark=game24", "policy=random", "limit=2", BON4,
                                 "planner=best_of_n", "scorer=rm", f"rm_ckpt={ckpt}"],
                  sweep / name)  # fmt: skip
    run_stage(report, "report", [f"input_dir={sweep}"], tmp_path / "report")
    rows = read_report(tmp_path / "report")
    assert sorted(r["train.data.train_fraction"] for r in rows) == ["0.5", "1.0"]
    assert list(rows[0])[-1] == "train.data.train_fraction"  # axes after the fixed columns
    assert all(r["n_tasks"] == "2" and r["loss"] == "bradley_terry" for r in rows)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| train.data.train_fraction |" in md
    assert "rows differ in: train.data.train_fraction" in md
    assert "no comparison: no row has scorer=none" in md
    metrics = (tmp_path / "report" / "metrics.json").read_text()
    for fraction in ("0.5", "1.0"):
        assert f"minilm/bradley_terry/train.data.train_fraction={fraction}/success_rate" in metrics
