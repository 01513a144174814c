"""plan, report and pipeline on real small runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scipy import stats as sps

from arm_exp.artifacts import load_manifest, read_records
from arm_exp.errors import ConfigError
from arm_exp.reward.scorer import RewardScorer
from arm_exp.stages import plan, report
from arm_exp.stages.report import COLUMNS, read_report
from arm_exp.types import Episode
from tests.conftest import ROOT, run_stage


@pytest.fixture(scope="module")
def two_plan_runs(tmp_path_factory, tiny_rm_ckpt):
    root = tmp_path_factory.mktemp("plans")
    common = ["policy=random", "limit=3", "planner=best_of_n", "planner.n=4"]
    run_stage(plan, "plan", [*common, "scorer=rm", f"rm_ckpt={tiny_rm_ckpt}"], root / "rm")
    run_stage(plan, "plan", [*common, "scorer=oracle"], root / "oracle")
    return root


def test_plan_writes_episodes_and_metrics(two_plan_runs):
    run = two_plan_runs / "rm"
    episodes = read_records(run / "episodes.jsonl", Episode.from_dict)
    assert [e.task_id for e in episodes] == ["900", "901", "902"]
    assert all(e.split == "test" and e.policy == "random" and e.scorer == "rm" for e in episodes)
    assert all(len(e.candidates) == 4 and e.scorer_score is not None for e in episodes)
    m = json.loads((run / "metrics.json").read_text())
    for key in (
        "success_rate",
        "ci_low",
        "ci_high",
        "score",
        "env_steps",
        "rm_calls",
        "rm_cache_hits",
        "oracle_success",
    ):
        assert f"plan/test/{key}" in m
    assert m["plan/test/ci_low"] <= m["plan/test/success_rate"] <= m["plan/test/ci_high"]
    wins = sum(e.success for e in episodes)
    assert m["plan/test/success_rate"] == wins / 3
    assert m["plan/test/oracle_success"] == sum(e.counters["oracle_success"] for e in episodes) / 3
    counts = load_manifest(run)["counts"]
    assert counts["planner"] == "best_of_n" and counts["rm_ckpt"].endswith("best.ckpt")


def test_plan_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="rm_ckpt"):
        run_stage(plan, "plan", ["policy=random", "scorer=rm", "limit=1"], tmp_path / "a")
    with pytest.raises(ConfigError, match="needs a scorer"):
        run_stage(
            plan,
            "plan",
            ["policy=random", "scorer=none", "planner=mcts", "limit=1"],
            tmp_path / "b",
        )


def test_report_on_two_runs_writes_table_and_plots(two_plan_runs, tmp_path):
    run_stage(report, "report", [f"input_dir={two_plan_runs}"], tmp_path)
    rows = read_report(tmp_path)
    assert list(rows[0])[: len(COLUMNS)] == COLUMNS
    assert sorted(r["scorer"] for r in rows) == ["oracle", "rm"]
    assert all(r["n_tasks"] == "3" and r["planner"] == "best_of_n" for r in rows)
    # every number of a row, recomputed from that run's episodes.jsonl
    for r in rows:
        eps = read_records(two_plan_runs / r["scorer"] / "episodes.jsonl", Episode.from_dict)
        wins = sum(e.success for e in eps)
        ci = sps.binomtest(wins, len(eps)).proportion_ci(method="wilson")
        assert float(r["success_rate"]) == pytest.approx(wins / len(eps), rel=1e-5)
        assert float(r["ci_low"]) == pytest.approx(ci.low, abs=2e-5)
        assert float(r["ci_high"]) == pytest.approx(ci.high, abs=2e-5)
        assert float(r["score"]) == pytest.approx(sum(e.score for e in eps) / 3, rel=1e-5)
        for col in ("env_steps", "oracle_success", "mean_success", "actions"):
            want = sum(e.counters[col] for e in eps) / 3
            assert float(r[col]) == pytest.approx(want, rel=1e-5, abs=1e-9), col
        rm_calls = sum(e.counters.get("rm_calls", 0.0) for e in eps) / 3
        assert float(r["rm_calls"]) == pytest.approx(rm_calls, rel=1e-5, abs=1e-9)
        assert (rm_calls > 0) == (r["scorer"] == "rm")
    md = (tmp_path / "report.md").read_text()
    table, notes = md.split("\n\n")
    assert table.count("\n") == 3 and "best_of_n" in table  # header, rule, 2 rows
    # the notes: nothing else differs, and no scorer=none row to compare with
    assert notes.splitlines() == [
        "- rows differ in no setting beyond the columns above",
        "- no comparison: no row has scorer=none (set report.baseline={column: value})",
    ]
    for png in ("success_vs_n.png", "planners.png"):
        assert (tmp_path / png).stat().st_size > 1000


def test_llm_policy_best_of_n_is_one_generate_call(tmp_path, smollm2):
    m = run_stage(
        plan,
        "plan",
        [
            "policy=llm",
            "scorer=oracle",
            "planner=best_of_n",
            "planner.n=3",
            "task_ids=[900]",
            "benchmark.agent.max_tokens=24",
            "benchmark.max_steps=4",
            "benchmark.invalid_action_retries=0",
        ],
        tmp_path,
    )
    episode = read_records(tmp_path / "episodes.jsonl", Episode.from_dict)[0]
    # The first call samples all 3 continuations at once (n=3); later ticks batch the unfinished
    # ones, so there are at most as many calls as steps.
    assert m["plan/test/n_candidates"] == 3
    assert 1 <= m["plan/test/llm_calls"] <= max(c.num_steps for c in episode.candidates)


def _check_against_the_checkpoint(run_dir, ckpt, metrics: dict[str, float]) -> list[Episode]:
    """Each pick's scorer_score is what a fresh scorer from the same checkpoint gives its
    trajectory, and the metrics are the episodes' own counts (Wilson interval from scipy)."""
    episodes = read_records(run_dir / "episodes.jsonl", Episode.from_dict)
    fresh = RewardScorer.from_checkpoint(ckpt)
    for e in episodes:
        assert e.candidates and e.scorer_score is not None
        (again,) = fresh.score([e.trajectory.intent], [e.trajectory])
        assert e.scorer_score == pytest.approx(again, abs=1e-5)
        assert any(c.scorer_score == e.scorer_score for c in e.candidates)
        assert e.success == e.trajectory.success and e.counters["rm_calls"] >= 1
    wins = sum(e.success for e in episodes)
    assert metrics["plan/test/success_rate"] == wins / len(episodes)
    ci = sps.binomtest(wins, len(episodes)).proportion_ci(method="wilson")
    assert metrics["plan/test/ci_low"] == pytest.approx(ci.low, abs=2e-5)
    assert metrics["plan/test/ci_high"] == pytest.approx(ci.high, abs=2e-5)
    return episodes


def test_reflexion_with_the_trained_reward_model(tmp_path, tiny_rm_ckpt):
    """ARMAP-R end to end: the embedded LLM retries with its own reflections until the trained
    reward model's score clears ARMAP's threshold (or the trials run out)."""
    m = run_stage(
        plan,
        "plan",
        [
            "policy=llm",
            "planner=reflexion",
            "planner.trials=2",
            "planner.reflection_max_tokens=16",
            "scorer=rm",
            f"rm_ckpt={tiny_rm_ckpt}",
            "task_ids=[900,901]",
            "benchmark.agent.max_tokens=16",
            "benchmark.max_steps=4",
            "benchmark.invalid_action_retries=0",
        ],
        tmp_path,
    )
    episodes = _check_against_the_checkpoint(tmp_path, tiny_rm_ckpt, m)
    for e in episodes:
        scores = [c.scorer_score for c in e.candidates]
        # ARMAP's Game of 24 rule: stop when the raw RM score is above 0, answer the last trial
        assert e.counters["threshold"] == 0.0
        assert e.counters["trials"] == len(scores) <= 2
        # it stops at the first attempt that clears the threshold, and only there
        assert all(s <= 0.0 for s in scores[:-1])
        assert e.counters["stopped_at_threshold"] == float(scores[-1] > 0.0)
        assert e.counters["answer_trial"] == len(scores) - 1
        if len(scores) == 2:  # the second attempt was prompted with the first one's reflection
            assert len(e.meta["reflections"]) == 1 and e.meta["reflections"][0].strip()
    assert m["plan/test/llm_calls"] >= 1


def test_mcts_with_the_trained_reward_model(tmp_path, tiny_rm_ckpt):
    """ARMAP-M end to end: UCT search whose leaf values are the trained reward model's."""
    m = run_stage(
        plan,
        "plan",
        [
            "policy=random",
            "planner=mcts",
            "planner.rollouts=6",
            "planner.expansion=3",
            "scorer=rm",
            f"rm_ckpt={tiny_rm_ckpt}",
            "limit=3",
        ],
        tmp_path,
    )
    episodes = _check_against_the_checkpoint(tmp_path, tiny_rm_ckpt, m)
    for e in episodes:
        assert len(e.candidates) <= 6 and e.counters["rollouts"] == 6
        assert e.counters["tree_nodes"] > 1  # the tree grew beyond its root
    assert m["plan/test/rm_calls"] >= 1


def test_pipeline_second_run_recomputes_nothing(tmp_path):
    cache = tmp_path / "cache"
    overrides = [
        f"paths.root_dir={ROOT}",
        f"pipeline.cache_dir={cache}",
        "explorer=random", "pipeline.explore.split=train", "pipeline.explore.limit=6",
        "explore.num_per_task=2",
        "synthesis=rule", "synthesis.negatives_per_positive=1",
        "trainer.max_steps=2", "reward_model.max_length=32", "train.data.batch_size=4",
        "trainer.enable_progress_bar=false",
        "policy=random", "pipeline.plan.limit=2",
        "pipeline.plans=[['planner=sampling','scorer=none'],['planner=best_of_n','scorer=rm','planner.n=2']]",
    ]  # fmt: skip

    def pipeline(run_dir):
        cmd = [
            sys.executable,
            "-m",
            "arm_exp.cli",
            "pipeline",
            *overrides,
            f"hydra.run.dir={run_dir}",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
        assert out.returncode == 0, out.stderr[-3000:]
        return load_manifest(run_dir)

    first = pipeline(tmp_path / "p1")
    stages = first["counts"]["stages"]
    assert [s["stage"] for s in stages] == [
        "explore",
        "synthesize",
        "train",
        "plan",
        "plan",
        "report",
    ]
    assert not any(s["reused"] for s in stages)
    # each stage's own peak RSS (os.wait4), for end_to_end.py and regressions across commits
    assert all(100 < s["peak_rss_mb"] < 6144 for s in stages)
    assert first["metrics"]["pipeline/peak_rss_mb"] == max(s["peak_rss_mb"] for s in stages)
    finished = {s["dir"]: load_manifest(s["dir"])["finished"] for s in stages}

    second = pipeline(tmp_path / "p2")
    assert all(s["reused"] for s in second["counts"]["stages"])
    assert {
        s["dir"]: load_manifest(s["dir"])["finished"] for s in second["counts"]["stages"]
    } == finished
    assert (tmp_path / "p2" / "report.md").read_text() == (
        tmp_path / "p1" / "report.md"
    ).read_text()
