"""The numbers of ``metrics.json`` (plan's ``episode_metrics``) and ``report.csv`` (report's
``aggregate``, ``to_csv``, ``to_markdown``, ``success_at_k``), checked against counts worked out
by hand in this file and against ``scipy.stats`` for the Wilson interval."""

from __future__ import annotations

import csv
import io
import itertools
import math
import statistics
from pathlib import Path

import pytest
from scipy import stats as sps

from arm_exp.stages.plan import episode_metrics
from arm_exp.stages.report import (
    COLUMNS,
    EXTRA,
    STATS,
    aggregate,
    success_at_k,
    to_csv,
    to_markdown,
)
from arm_exp.types import Candidate, Episode, Trajectory


def _episode(
    i: int,
    success: bool,
    score: float,
    counters: dict[str, float] | None = None,
    task_type: str | None = None,
    candidates: list[Candidate] | None = None,
    wall_s: float = 1.0,
    meta: dict | None = None,
) -> Episode:
    traj = Trajectory(
        id=f"t{i}",
        benchmark="game24",
        task_id=str(i),
        intent="x",
        initial_observation="o",
        score=score,
        success=success,
        meta={"task_type": task_type} if task_type else {},
    )
    return Episode(
        id=str(i),
        benchmark="game24",
        split="test",
        task_id=str(i),
        planner="best_of_n",
        policy="random",
        scorer="rm",
        trajectory=traj,
        score=score,
        success=success,
        candidates=candidates or [],
        counters=counters or {},
        wall_s=wall_s,
        meta=meta or {},
    )


def _scipy_wilson(k: int, n: int) -> tuple[float, float]:
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


# Five episodes: the planner's pick succeeded on 2 (ids 1 and 4). Best-of-N's oracle (any of the
# N candidates) succeeded on 4: success must count the pick, never the oracle.
EPISODES = [
    _episode(0, False, 0.25, {"oracle_success": 1.0, "llm_calls": 4, "env_steps": 10}, "a", wall_s=2),
    _episode(1, True, 1.0, {"oracle_success": 1.0, "llm_calls": 2, "env_steps": 6}, "a", wall_s=1),
    _episode(2, False, 0.0, {"oracle_success": 0.0, "llm_calls": 6, "env_steps": 12}, "b", wall_s=3),
    _episode(3, False, 0.5, {"oracle_success": 1.0, "llm_calls": 4}, "b", wall_s=4),
    _episode(4, True, 1.0, {"oracle_success": 1.0, "llm_calls": 3, "env_steps": 5}, wall_s=5),
]  # fmt: skip


def test_episode_metrics_by_hand():
    m = episode_metrics(EPISODES, "plan/test")
    assert m["plan/test/n_tasks"] == 5.0
    assert m["plan/test/success_rate"] == 2 / 5  # not the oracle's 4 / 5
    assert m["plan/test/oracle_success"] == 4 / 5
    lo, hi = _scipy_wilson(2, 5)
    assert m["plan/test/ci_low"] == pytest.approx(lo, abs=2e-5)
    assert m["plan/test/ci_high"] == pytest.approx(hi, abs=2e-5)
    assert m["plan/test/score"] == pytest.approx((0.25 + 1.0 + 0.0 + 0.5 + 1.0) / 5)
    assert m["plan/test/wall_s"] == pytest.approx((2 + 1 + 3 + 4 + 5) / 5)
    assert m["plan/test/llm_calls"] == pytest.approx((4 + 2 + 6 + 4 + 3) / 5)
    # a counter is averaged over the episodes that report it (episode 3 has no env_steps)
    assert m["plan/test/env_steps"] == pytest.approx((10 + 6 + 12 + 5) / 4)
    # per task type (episode 4 has none): a = {0: fail, 1: win}, b = {2: fail, 3: fail}
    assert m["plan/test/by_type/a/success_rate"] == 0.5
    assert m["plan/test/by_type/b/success_rate"] == 0.0
    assert m["plan/test/by_type/a/score"] == pytest.approx(0.625)
    assert m["plan/test/by_type/b/score"] == pytest.approx(0.25)
    assert set(m) == {
        *(f"plan/test/{k}" for k in ("n_tasks", "success_rate", "ci_low", "ci_high", "score")),
        *(f"plan/test/{k}" for k in ("score_ci_low", "score_ci_high")),
        *(f"plan/test/{k}" for k in ("wall_s", "oracle_success", "llm_calls", "env_steps")),
        *(f"plan/test/by_type/{t}/{k}" for t in "ab" for k in ("success_rate", "score")),
    }


def test_episode_metrics_success_is_the_picks_not_the_trajectorys_score():
    # A partial score (0.5) is not a success; a success is counted whatever the score says.
    eps = [_episode(0, False, 0.99), _episode(1, True, 0.0), _episode(2, True, 0.3)]
    m = episode_metrics(eps, "p")
    assert m["p/success_rate"] == pytest.approx(2 / 3)
    assert (m["p/ci_low"], m["p/ci_high"]) == pytest.approx(_scipy_wilson(2, 3), abs=2e-5)


def test_episode_metrics_of_no_episodes():
    m = episode_metrics([], "plan/test")
    assert m == {
        "plan/test/n_tasks": 0.0,
        "plan/test/success_rate": 0.0,
        "plan/test/ci_low": 0.0,
        "plan/test/ci_high": 1.0,
        "plan/test/score": 0.0,
        "plan/test/score_ci_low": 0.0,
        "plan/test/score_ci_high": 1.0,
        "plan/test/wall_s": 0.0,
    }


def _run(eps: list[Episode], **labels: str) -> dict:
    base = dict(
        benchmark="game24",
        split="test",
        policy="random",
        planner="best_of_n",
        scorer="rm",
        backbone="",
        reward_model="minilm",
        loss="bradley_terry",
        objective="",
        rm_trained_on="",
        report_metric="success_rate",
    )
    return {**base, **labels, "dir": "x", "episodes": eps}


def test_aggregate_pools_runs_of_one_group_and_splits_the_others():
    # Two seeds of the same cell (pooled) and an oracle-scored cell (its own row).
    seed0 = EPISODES[:3]
    seed1 = EPISODES[3:]
    oracle = [
        _episode(10, True, 1.0, {"oracle_calls": 8, "env_steps": 4}),
        _episode(11, True, 1.0, {"oracle_calls": 6, "env_steps": 2}),
    ]
    rows = aggregate(
        [_run(seed0), _run(oracle, scorer="oracle", reward_model="", loss=""), _run(seed1)]
    )
    assert [(r["scorer"], r["runs"], r["n_tasks"]) for r in rows] == [
        ("oracle", 1, 2),
        ("rm", 2, 5),
    ]
    oracle_row, rm = rows
    assert rm["success_rate"] == 2 / 5
    assert (rm["ci_low"], rm["ci_high"]) == pytest.approx(_scipy_wilson(2, 5), abs=2e-5)
    assert rm["score"] == pytest.approx(2.75 / 5)
    assert rm["oracle_success"] == pytest.approx(4 / 5)
    assert rm["llm_calls"] == pytest.approx(19 / 5)
    # report costs are means over all pooled episodes (a missing counter counts as 0)
    assert rm["env_steps"] == pytest.approx(33 / 5)
    assert rm["rm_calls"] == 0.0 and rm["mean_success"] == 0.0 and rm["actions"] == 0.0
    assert rm["wall_s"] == pytest.approx(3.0)
    assert rm["price_paid"] == ""  # no episode bought anything
    assert rm["_episodes"] == [*seed0, *seed1]
    # the oracle's calls stand in for RM calls; nobody called an LLM
    assert oracle_row["success_rate"] == 1.0 and oracle_row["ci_high"] == 1.0
    assert oracle_row["rm_calls"] == pytest.approx(7.0) and oracle_row["llm_calls"] == 0.0
    assert oracle_row["env_steps"] == pytest.approx(3.0)
    assert oracle_row["ci_low"] == pytest.approx(_scipy_wilson(2, 2)[0], abs=2e-5)


def test_aggregate_counts_llm_calls_apart_from_policy_calls():
    eps = [
        _episode(0, True, 1.0, {"llm_calls": 2, "policy_calls": 9, "rm_calls": 3, "oracle_calls": 9}),
        _episode(1, False, 0.0, {"llm_calls": 4, "policy_calls": 7, "rm_calls": 5}),
    ]  # fmt: skip
    (row,) = aggregate([_run(eps)])
    assert row["llm_calls"] == 3.0 and row["policy_calls"] == 8.0 and row["rm_calls"] == 4.0
    # A random policy calls no LLM: its proposal calls are policy calls, not LLM calls.
    (row,) = aggregate([_run([_episode(0, True, 1.0, {"policy_calls": 5})])])
    assert row["llm_calls"] == 0.0 and row["policy_calls"] == 5.0
    assert "| policy calls |" in to_markdown([row]) and "LLM calls" not in to_markdown([row])


def test_success_vs_n_starts_at_zero_on_all_zero_data(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from arm_exp.stages.report import plot

    limits = {}
    save = Figure.savefig

    def record(fig, path, *args, **kwargs):
        limits[Path(path).name] = fig.axes[0].get_ylim()
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    failed = [Candidate(scorer_score=0.1 * k, score=0.0, success=False, num_steps=3)
              for k in range(4)]  # fmt: skip
    run = _run([_episode(i, False, 0.0, candidates=failed) for i in range(3)])
    rows = aggregate([{**run, "iid_candidates": True}])
    assert "success_vs_n.png" in plot(rows, tmp_path)
    low, high = limits["success_vs_n.png"]
    assert low == 0.0 and high >= 10.0  # not matplotlib's -0.04..0.04 around an all-zero line


def test_aggregate_price_paid_averages_only_episodes_that_bought_something():
    eps = [
        _episode(0, True, 1.0, {"price_paid": 10.0, "actions": 4, "mean_success": 0.5}),
        _episode(1, True, 1.0, {"actions": 2, "rm_cache_hits": 6, "mean_success": 0.25}),
        _episode(2, False, 0.2, {"price_paid": 30.0, "actions": 6}),
    ]
    (row,) = aggregate([_run(eps, objective="lower_price(w=1)")])
    assert row["price_paid"] == pytest.approx(20.0)
    assert row["actions"] == pytest.approx(4.0)
    assert row["rm_cache_hits"] == pytest.approx(2.0)
    assert row["mean_success"] == pytest.approx(0.25)
    assert row["objective"] == "lower_price(w=1)"


def test_aggregate_of_an_empty_run():
    (row,) = aggregate([_run([])])
    assert row["n_tasks"] == 0 and row["success_rate"] == 0.0
    assert (row["ci_low"], row["ci_high"]) == (0.0, 1.0)


def test_csv_has_the_design_columns_in_order_and_six_digits():
    rows = aggregate([_run(EPISODES)])
    text = to_csv(rows)
    assert text.endswith("\n") and "\r" not in text
    (line,) = list(csv.DictReader(io.StringIO(text)))
    assert list(line) == COLUMNS + EXTRA + STATS  # then the axes, none here
    assert [line[k] for k in ("repeats", "repeat_std", "baseline", "p_value")] == ["1", "0", "", ""]
    lo, hi = _scipy_wilson(2, 5)
    assert line["n_tasks"] == "5" and line["runs"] == "1"
    assert line["success_rate"] == "0.4"
    assert float(line["ci_low"]) == pytest.approx(lo, abs=2e-5)
    assert float(line["ci_high"]) == pytest.approx(hi, abs=2e-5)
    assert line["ci_low"] == f"{rows[0]['ci_low']:.6g}"  # 6 significant digits
    assert line["llm_calls"] == "3.8" and line["score"] == "0.55" and line["price_paid"] == ""
    assert [line[k] for k in ("benchmark", "planner", "scorer", "reward_model", "loss")] == [
        "game24",
        "best_of_n",
        "rm",
        "minilm",
        "bradley_terry",
    ]


def test_markdown_row_worked_by_hand():
    two = [Candidate(scorer_score=0.1, score=0.0, success=False, num_steps=1)] * 2
    eps = [
        _episode(
            0, True, 1.0, {"oracle_success": 1.0, "policy_calls": 3, "rm_calls": 2}, candidates=two
        ),
        _episode(1, False, 0.5, {"oracle_success": 1.0, "policy_calls": 5, "rm_calls": 4}),
        _episode(2, True, 1.0, {"oracle_success": 1.0, "price_paid": 12.5, "actions": 3}),
        _episode(3, False, 0.0, {"oracle_success": 0.0, "env_steps": 8}),
    ]
    rows = aggregate(
        [
            _run(eps, backbone="smollm2", objective="fewer_actions(w=0.1)"),
            _run(
                [_episode(0, True, 1.0, {"oracle_success": 1.0, "policy_calls": 3, "rm_calls": 2})],
                planner="greedy",
                scorer="none",
                reward_model="",
                loss="",
            ),
        ]
    )
    lines = to_markdown(rows).splitlines()
    assert len(lines) == 4 and lines[1] == "|" + "---|" * 15
    assert lines[0] == (
        "| benchmark | split | policy | planner | scorer | tasks | success % [95% CI] "
        "| oracle@N % | score | actions | price paid | policy calls | RM calls | env steps | s/task |"
    )
    lo, hi = (100 * x for x in _scipy_wilson(2, 4))
    assert lines[2] == (
        "| game24 | test | random (smollm2) | best_of_n + fewer_actions(w=0.1) "
        f"| rm (minilm, bradley_terry) | 4 | 50.0 [{lo:.1f}, {hi:.1f}] | 75.0 | 0.625 "
        "| 0.8 | 12.50 | 2.0 | 1.5 | 2.0 | 1.00 |"
    )
    # no oracle@N for a single-trajectory planner, no model in the scorer cell, no price
    assert lines[3] == (
        "| game24 | test | random | greedy | none | 1 | 100.0 [20.7, 100.0] |  | 1.000 "
        "| 0.0 |  | 3.0 | 2.0 | 0.0 | 1.00 |"
    )


@pytest.mark.parametrize("n_candidates", [0, 1, 2])
def test_markdown_shows_oracle_at_n_only_where_the_planner_chose_among_several(n_candidates):
    # Data-driven: a run whose episodes chose among several candidates has an oracle@N; one
    # candidate (sampling, greedy) or none leaves the cell blank, whatever the planner's name.
    cands = [Candidate(scorer_score=0.1, score=1.0, success=True, num_steps=1)] * n_candidates
    eps = [_episode(0, False, 0.0, {"oracle_success": 1.0}, candidates=cands)]
    (row,) = aggregate([_run(eps, planner="best_of_n")])
    cells = to_markdown([row]).splitlines()[2].split(" | ")
    assert cells[7] == ("100.0" if n_candidates > 1 else "")


def _cands(spec: list[tuple[float, bool]], objective: list[float] | None = None) -> list[Candidate]:
    objective = objective or [0.0] * len(spec)
    return [
        Candidate(scorer_score=s, score=float(ok), success=ok, num_steps=1, objective=o)
        for (s, ok), o in zip(spec, objective, strict=True)
    ]


def _exact_success_at_k(episodes: list[Episode], k: int, weight: float = 0.0):
    """Exact expectations over all k-subsets: pick = the best-valued candidate's success."""
    pick = oracle = avg = 0.0
    n = 0
    for e in episodes:
        c = e.candidates
        for sub in itertools.combinations(range(len(c)), k):
            best = max(
                sub, key=lambda i: (c[i].scorer_score or 0.0) + weight * (c[i].objective or 0)
            )
            pick += c[best].success
            oracle += any(c[i].success for i in sub)
            avg += sum(c[i].success for i in sub) / k
            n += 1
    return pick / n, oracle / n, avg / n


# Distinct scores (no ties), so the pick is well defined on every subset.
BON = [
    _episode(0, True, 1, candidates=_cands([(0.9, True), (0.1, False), (0.5, False), (0.2, True)])),
    _episode(1, False, 0, candidates=_cands([(0.8, False), (0.3, True), (0.4, False), (0.1, False)])),
    _episode(2, False, 0, candidates=_cands([(0.2, False), (0.6, False), (0.1, False), (0.3, False)])),
]  # fmt: skip


def test_success_at_full_n_is_exact():
    # k = N: every draw is the whole set: the pick is the argmax, the oracle any success.
    assert success_at_k(BON, 4) == pytest.approx((1 / 3, 2 / 3, (0.5 + 0.25 + 0) / 3))


def test_success_at_k_is_the_expectation_over_subsets():
    for k in (1, 2, 3):
        got = success_at_k(BON, k, draws=3000, seed=1)
        assert got == pytest.approx(_exact_success_at_k(BON, k), abs=0.03), k
    # k = 1: the pick, the oracle and the mean are the same draw
    pick, oracle, avg = success_at_k(BON, 1, draws=50, seed=3)
    assert pick == oracle == avg


def test_success_at_k_ranks_by_score_plus_the_objective_term():
    e = _episode(
        0,
        True,
        1,
        candidates=_cands([(0.5, False), (0.4, True)], objective=[-2.0, -1.0]),
        meta={"objective": {"weight": 0.2}},
    )
    # 0.5 - 0.4 = 0.1 < 0.4 - 0.2 = 0.2: the objective flips the pick to the successful one
    assert success_at_k([e], 2) == (1.0, 1.0, 0.5)
    assert success_at_k([e], 2) == pytest.approx(_exact_success_at_k([e], 2, weight=0.2))
    e.meta = {}
    assert success_at_k([e], 2) == (0.0, 1.0, 0.5)


def test_success_at_k_reads_a_zero_score_and_a_missing_objective_as_zero():
    # scorer_score 0.0 is a score (below 0.5), not a missing one; a candidate without an
    # objective value adds nothing (weight 1 here), it is not ranked as if it had one.
    zero = _episode(0, True, 1, candidates=_cands([(0.0, False), (0.5, True)]))
    assert success_at_k([zero], 2) == (1.0, 1.0, 0.5)
    cands = _cands([(0.5, False), (0.8, True)], objective=[0.0, -0.1])
    cands[0].objective = None
    no_objective = _episode(1, True, 1, candidates=cands, meta={"objective": {"weight": 1.0}})
    assert success_at_k([no_objective], 2) == (1.0, 1.0, 0.5)  # 0.8 - 0.1 > 0.5 + 0


def test_success_at_k_defaults_are_200_draws_with_seed_0():
    assert success_at_k(BON, 2) == success_at_k(BON, 2, draws=200, seed=0)
    assert success_at_k(BON, 2) != success_at_k(BON, 2, draws=201, seed=0)
    assert success_at_k(BON, 2) != success_at_k(BON, 2, draws=200, seed=1)


def test_success_at_k_skips_episodes_it_cannot_use():
    unscored = _episode(
        5, True, 1, candidates=[Candidate(None, 1.0, True, 1), *_cands([(0.1, True)])]
    )
    few = _episode(6, True, 1, candidates=_cands([(0.3, True)]))
    assert success_at_k([unscored, few], 2) == (0.0, 0.0, 0.0)
    assert success_at_k([*BON, unscored, few], 4) == success_at_k(BON, 4)
    assert success_at_k([unscored, few, *BON], 4) == success_at_k(BON, 4)
    # draws and seed are honoured: a fixed seed repeats, the estimate is a mean of `draws` draws
    assert success_at_k(BON, 2, draws=7, seed=5) == success_at_k(BON, 2, draws=7, seed=5)
    pick = success_at_k(BON, 2, draws=7, seed=5)[0]
    assert round(pick * 21) == pytest.approx(pick * 21, abs=1e-9)  # 3 episodes x 7 draws


def test_aggregate_score_interval_report_metric_and_both_scienceworld_scores():
    eps = [
        _episode(0, False, 0.25, {"max_score": 0.5, "final_score": 0.25}),
        _episode(1, True, 1.0, {"max_score": 1.0, "final_score": 1.0}),
        _episode(2, False, 0.0),
        _episode(3, False, 0.5, {"max_score": 0.75, "final_score": 0.0}),
    ]
    (row,) = aggregate([_run(eps[:2], report_metric="score"), _run(eps[2:], report_metric="score")])
    # the interval of the mean score, computed here: mean 0.4375, sample sd, z = 1.96
    scores = [0.25, 1.0, 0.0, 0.5]
    half = 1.96 * statistics.stdev(scores) / math.sqrt(4)
    assert row["score"] == pytest.approx(0.4375)
    assert (row["score_ci_low"], row["score_ci_high"]) == pytest.approx(
        (max(0.0, 0.4375 - half), min(1.0, 0.4375 + half))
    )
    assert row["score_ci_low"] > 0.0  # not the clipped bound: the test sees the formula
    assert row["report_metric"] == "score"  # every run of the cell reports its score
    # ScienceWorld's running max and final score: means over the episodes that have them
    assert row["max_score"] == pytest.approx(0.75) and row["final_score"] == pytest.approx(1.25 / 3)
    (mixed,) = aggregate(
        [_run(eps[:2], report_metric="score"), _run(eps[2:], report_metric="final_score")]
    )
    assert mixed["report_metric"] == "success_rate"  # runs disagree: the success rate
    (plain,) = aggregate([_run([_episode(5, True, 1.0)], report_metric="score")])
    assert plain["report_metric"] == "score"
    assert (plain["max_score"], plain["final_score"]) == ("", "")


def _seeded(eps: list[Episode], seed: str, f: str, **labels: str) -> dict:
    return {**_run(eps, **labels), "axes": {"f": f}, "repeat": (("seed", seed),)}


def test_aggregate_counts_a_task_once_across_seeds_and_splits_rows_by_axes():
    seed0 = [_episode(0, True, 1.0, {"env_steps": 2}), _episode(1, False, 0.0),
             _episode(2, False, 0.5)]  # fmt: skip
    seed1 = [_episode(0, True, 1.0), _episode(1, True, 1.0), _episode(2, False, 0.0)]
    other = [_episode(0, False, 0.0)]
    rows = aggregate(
        [_seeded(seed0, "0", "0.5"), _seeded(other, "0", "1.0"), _seeded(seed1, "1", "0.5")],
        ["f"],
    )
    assert [(r["f"], r["runs"], r["repeats"], r["n_tasks"]) for r in rows] == [
        ("0.5", 2, 2, 3),  # 3 puzzles in 2 seeds are 3 tasks
        ("1.0", 1, 1, 1),
    ]
    half = rows[0]
    # per task: 2/2, 1/2, 0/2 solved -> rate 0.5 over n = 3; Wilson by hand with z = 1.96:
    # centre (0.5 + 3.8416/6) / (1 + 3.8416/3) = 0.5, half-width
    # 1.96 sqrt(0.25/3 + 3.8416/36) / 2.280533 = 0.374669
    assert half["success_rate"] == 0.5
    assert (half["ci_low"], half["ci_high"]) == pytest.approx((0.125331, 0.874669), abs=1e-6)
    assert half["score"] == pytest.approx((1.0 + 0.5 + 0.25) / 3)  # per-task means first
    # across seeds: 1/3 and 2/3 -> mean 0.5, sample sd sqrt(2 (1/6)^2) = 0.235702
    assert half["repeat_mean"] == pytest.approx(0.5)
    assert half["repeat_std"] == pytest.approx(0.235702, abs=1e-6)
    assert half["env_steps"] == pytest.approx(2 / 6)  # costs: per episode
    assert rows[1]["repeat_std"] == 0.0 and rows[1]["success_rate"] == 0.0
    # two runs of one seed (e.g. tasks split over two jobs) are one repeat: 1/3 and 0/3
    (row,) = aggregate(
        [_seeded(seed0[:2], "0", "x"), _seeded(seed1[2:], "0", "x"),
         _seeded([_episode(i, False, 0.0) for i in range(3)], "1", "x")],
        ["f"],
    )  # fmt: skip
    assert (row["repeats"], row["n_tasks"]) == (2, 3)
    assert row["repeat_mean"] == pytest.approx((1 / 3 + 0) / 2)

    (line, _) = list(csv.DictReader(io.StringIO(to_csv(rows, ["f"]))))
    assert list(line) == [*COLUMNS, *EXTRA, *STATS, "f"] and line["f"] == "0.5"
    lines = to_markdown(rows, ["f"]).splitlines()
    head = lines[0].split(" | ")
    assert head[4:8] == ["scorer", "f", "tasks", "success % [95% CI]"]
    assert head[8] == "repeats: mean ± std %" and len(head) == 17
    assert lines[2].split(" | ")[4:9] == [
        "rm (minilm, bradley_terry)", "0.5", "3", "50.0 [12.5, 87.5]", "2: 50.0 ± 23.6"
    ]  # fmt: skip
    assert lines[3].split(" | ")[8] == ""  # one repeat: no spread to show


def test_compare_with_baseline_fills_the_paired_columns_and_markdown():
    from arm_exp.stages.report import compare_with_baseline

    base = [_episode(i, i == 0, float(i == 0)) for i in range(4)]
    rm = [_episode(i, i < 3, float(i < 3)) for i in range(4)]
    rows = aggregate([_run(base, scorer="none", reward_model="", loss=""), _run(rm)])
    assert [r["scorer"] for r in rows] == ["none", "rm"]
    assert compare_with_baseline(rows, [], {}) == "baseline: scorer=none"
    none, with_rm = rows
    assert none["baseline"] == "" and none["p_value"] == ""
    assert with_rm["baseline"] == "game24/test/random/best_of_n/none"
    assert (with_rm["paired_tasks"], with_rm["test"]) == (4, "mcnemar_exact")
    # tasks 1 and 2 solved only with the RM, none only without: diff 2/4, p = 2 (1/2)^2
    assert with_rm["diff"] == 0.5 and with_rm["p_value"] == 0.5
    assert with_rm["diff_ci_low"] <= 0.5 <= with_rm["diff_ci_high"]
    lines = to_markdown(rows).splitlines()
    assert lines[0].endswith("| s/task | vs baseline: Δ pts [95% CI], p |")
    assert lines[2].endswith("| baseline |")
    low, high = 100 * with_rm["diff_ci_low"], 100 * with_rm["diff_ci_high"]
    assert lines[3].endswith(f"| +50.0 [{low:+.1f}, {high:+.1f}], p=0.5 (McNemar, 4 tasks) |")
    # no baseline row: no comparison, and the note says why
    rows = aggregate([_run(rm)])
    assert "no row has scorer=none" in compare_with_baseline(rows, [], {})
    assert rows[0]["baseline"] == "" and "vs baseline" not in to_markdown(rows)


def test_plots_and_wandb_keys_tell_apart_rows_that_differ_only_in_loss_or_an_axis(
    tmp_path, monkeypatch
):
    from matplotlib.figure import Figure

    from arm_exp.stages.report import label, plot

    legends = {}
    save = Figure.savefig

    def record(fig, path, *args, **kwargs):
        legends[Path(path).name] = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    cands = [Candidate(scorer_score=0.1 * k, score=1.0, success=k == 1, num_steps=3)
             for k in range(4)]  # fmt: skip
    eps = [_episode(i, i == 0, float(i == 0), candidates=cands) for i in range(3)]
    runs = [
        {**_run(eps, loss=loss), "iid_candidates": True, "axes": {"f": f}}
        for loss in ("bradley_terry", "hinge")
        for f in ("0.5", "1.0")
    ]
    rows = aggregate(runs, ["f"])
    assert sorted(plot(rows, tmp_path, ["f"])) == ["planners.png", "success_vs_n.png"]
    # one bar series per row (the planner is the x axis), named by what varies
    assert legends["planners.png"] == [
        "bradley_terry/f=0.5", "bradley_terry/f=1.0", "hinge/f=0.5", "hinge/f=1.0"
    ]  # fmt: skip
    assert len(set(legends["success_vs_n.png"])) == 8  # pick and oracle@k of each row
    assert "hinge/f=1.0: oracle@k" in legends["success_vs_n.png"]
    keys = {label(r, ["f"]) for r in rows}
    assert len(keys) == 4
    assert "game24/test/random/best_of_n/rm/minilm/hinge/f=0.5" in keys


def test_success_vs_proposals_one_curve_per_family_and_planner(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from arm_exp.stages.report import pivot, plot_proposals

    lines: dict[str, list] = {}
    save = Figure.savefig

    def record(fig, path, *args, **kwargs):
        ax = fig.axes[0]
        lines.update({ln.get_label(): list(zip(*ln.get_data(), strict=True)) for ln in ax.lines})
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    cands = [Candidate(scorer_score=0.1 * k, score=1.0, success=k == 3, num_steps=4)
             for k in range(4)]  # fmt: skip
    bon = [_episode(i, i == 0, float(i == 0), {"proposals": 16.0}, candidates=cands)
           for i in range(2)]  # fmt: skip
    beam = [_episode(i, True, 1.0, {"proposals": 13.0}) for i in range(2)]
    runs = [
        {**_run(bon, loss="prm_bce"), "iid_candidates": True, "axes": {}},
        {**_run(beam, planner="beam_search", loss="prm_bce"), "axes": {}},
        {**_run(beam, planner="beam_search", loss="bradley_terry"), "axes": {}},
    ]
    rows = aggregate(runs)
    assert [r["proposals"] for r in rows] == [13.0, 13.0, 16.0]
    assert plot_proposals(rows, tmp_path) == ["success_vs_proposals.png"]
    assert (tmp_path / "success_vs_proposals.png").exists()
    # Best-of-N: the pick among k = 1, 2 of its 4 candidates at k / 4 of its proposals (the
    # best-scored candidate is the winner: picked whenever drawn), then the row itself.
    assert lines["best_of_n/prm_bce"][-1] == (16.0, 50.0)
    assert [x for x, _ in lines["best_of_n/prm_bce"]] == [4.0, 8.0, 16.0]
    assert lines["beam_search/prm_bce"] == [(13.0, 100.0)]
    assert lines["beam_search/bradley_terry"] == [(13.0, 100.0)]
    _, body = pivot(rows)
    assert all(row[-1].endswith(" proposals") for row in body)
    assert body[-1][-1].endswith("@ 16 proposals")
    assert plot_proposals([{**r, "proposals": 0.0} for r in rows], tmp_path) == []
