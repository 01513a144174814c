"""The Wilson interval and the mean behind every success rate we report, the interval of a mean
score, the per-task-type metrics, the rate over tasks and the paired tests between two rows,
checked against values computed independently: hand-worked numbers, the interval as the roots of
its defining quadratic, and ``scipy.stats``."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy import stats as sps

from arm_exp.stats import (
    by_type_metrics,
    mcnemar_exact,
    mean,
    mean_ci,
    mean_std,
    paired_bootstrap,
    paired_test,
    rate_over_tasks,
    wilson,
)


def _wilson_by_roots(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson interval is the set of p with (k/n - p)^2 <= z^2 p (1 - p) / n: the roots of
    (1 + z^2/n) p^2 - (2 k/n + z^2/n) p + (k/n)^2 = 0 (a derivation independent of the code's
    centre +- half-width form)."""
    ph, t = k / n, z * z / n
    a, b, c = 1 + t, -(2 * ph + t), ph * ph
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


def test_wilson_of_7_in_10_worked_by_hand():
    # p = 0.7, z^2 = 3.8416: centre = (0.7 + 0.19208) / 1.38416 = 0.644492,
    # half = 1.96 * sqrt(0.021 + 0.009604) / 1.38416 = 0.247719 (tables: [0.3968, 0.8922]).
    lo, hi = wilson(7, 10)
    assert lo == pytest.approx(0.396773, abs=1e-6)
    assert hi == pytest.approx(0.892211, abs=1e-6)


@pytest.mark.parametrize(("k", "n"), [(1, 1), (0, 1), (1, 3), (2, 3), (5, 10), (37, 50), (3, 100)])
def test_wilson_equals_the_roots_of_its_quadratic(k, n):
    lo, hi = wilson(k, n)
    want_lo, want_hi = _wilson_by_roots(k, n)
    assert lo == pytest.approx(max(0.0, want_lo), abs=1e-12)
    assert hi == pytest.approx(min(1.0, want_hi), abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 5), (5, 5), (12, 40), (99, 100)])
def test_wilson_matches_scipy(k, n):
    # scipy uses z = norm.ppf(0.975) = 1.959964...; we use the customary 1.96.
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=2e-5)
    z = float(sps.norm.ppf(0.975))
    assert wilson(k, n, z=z) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_other_confidence_levels_follow_z():
    z90 = float(sps.norm.ppf(0.95))
    ci = sps.binomtest(6, 20).proportion_ci(confidence_level=0.9, method="wilson")
    assert wilson(6, 20, z=z90) == pytest.approx((ci.low, ci.high), abs=1e-12)
    narrow, wide = wilson(6, 20, z=1.0), wilson(6, 20, z=3.0)
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]


def test_wilson_extremes_stay_in_0_1_and_touch_the_bound():
    # For 0 or n successes of n = 5 the unclamped formula rounds to just outside [0, 1]
    # (1.0000000000000002 and -2.8e-17): the clamp is what keeps the bounds exact.
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0
    assert wilson(0, 5)[1] == pytest.approx(_wilson_by_roots(0, 5)[1], abs=1e-12)
    assert wilson(5, 5)[0] == pytest.approx(_wilson_by_roots(5, 5)[0], abs=1e-12)


def test_wilson_of_no_tasks_is_the_whole_range():
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, -1) == (0.0, 1.0)


def test_wilson_takes_fractional_success_counts():
    # Pooled mean successes (e.g. Best-of-N's mean_success) are not integers.
    lo, hi = wilson(2.5, 10)
    assert (lo, hi) == pytest.approx(_wilson_by_roots(2.5, 10), abs=1e-12)


def test_mean():
    assert mean([1.0, 2.0, 6.0]) == 3.0
    assert mean([0.5]) == 0.5
    assert mean([]) == 0.0


def test_mean_ci_is_the_normal_interval_of_the_mean():
    # 0.2, 0.4, 0.9, 0.5: mean 0.5, sample variance (0.09 + 0.01 + 0.16 + 0) / 3 = 0.0866...,
    # standard error sqrt(0.08667 / 4) = 0.147196; half-width 1.96 * 0.147196 = 0.288504
    lo, hi = mean_ci([0.2, 0.4, 0.9, 0.5])
    assert (lo, hi) == pytest.approx((0.5 - 0.288504, 0.5 + 0.288504), abs=1e-6)
    values = [0.1, 0.35, 0.6, 0.6, 0.2, 0.45, 0.3]
    want = sps.norm.interval(0.95, loc=statistics.mean(values), scale=sps.sem(values))
    assert mean_ci(values, z=float(sps.norm.ppf(0.975))) == pytest.approx(want, abs=1e-12)
    (lo, hi), (wide_lo, wide_hi) = mean_ci(values), mean_ci(values, z=3.0)
    assert wide_lo < lo < hi < wide_hi


def test_mean_ci_clips_to_0_1_and_needs_two_values():
    assert mean_ci([0.0, 0.05, 0.0, 0.9])[0] == 0.0  # the normal interval would go below 0
    assert mean_ci([1.0, 0.95, 1.0, 0.1])[1] == 1.0
    assert mean_ci([0.7]) == (0.0, 1.0) and mean_ci([]) == (0.0, 1.0)
    assert mean_ci([0.3, 0.3]) == (0.3, 0.3)  # no spread: a point


class _Rec:
    def __init__(self, task_type, ok: float, meta: bool = True) -> None:
        self.meta = {"task_type": task_type} if task_type is not None else {}
        if not meta:
            self.meta = None
        self.ok = ok


def test_by_type_metrics_groups_sorted_by_type_and_skips_untyped_records():
    recs = [_Rec("boil", 1), _Rec("melt", 0), _Rec("boil", 0), _Rec(None, 1), _Rec(3, 1),
            _Rec("x", 1, meta=False), _Rec("boil", 1)]  # fmt: skip
    got = by_type_metrics("plan/test", recs, "success_rate", lambda rs: mean([r.ok for r in rs]))
    assert got == {
        "plan/test/by_type/3/success_rate": 1.0,
        "plan/test/by_type/boil/success_rate": 2 / 3,
        "plan/test/by_type/melt/success_rate": 0.0,
    }
    assert list(got) == sorted(got) and all(type(v) is float for v in got.values())
    assert by_type_metrics("p", [_Rec(None, 1)], "n", len) == {}
    assert by_type_metrics("p", [_Rec("a", 1), _Rec("a", 0)], "n", len) == {"p/by_type/a/n": 2.0}


def test_rate_over_tasks_averages_repeats_first_and_counts_tasks():
    # 3 tasks: solved in 2 of 2 seeds, 1 of 2, 0 of 2: rate (1 + 0.5 + 0) / 3 = 0.5 over n = 3
    rate, lo, hi = rate_over_tasks([1.0, 0.5, 0.0])
    assert rate == 0.5
    assert (lo, hi) == pytest.approx(_wilson_by_roots(1.5, 3), abs=1e-12)
    # one episode per task: the plain Wilson interval (scipy's, with z = 1.96)
    ci = sps.binomtest(2, 5).proportion_ci(method="wilson")
    assert rate_over_tasks([1, 0, 1, 0, 0]) == pytest.approx((0.4, ci.low, ci.high), abs=2e-5)
    # 3 seeds of 20 tasks are 20 tasks, not 60: wider than the interval that counts episodes
    per_task = [1.0] * 7 + [0.0] * 13
    pooled = wilson(21, 60)
    assert rate_over_tasks(per_task)[1] < pooled[0] and rate_over_tasks(per_task)[2] > pooled[1]
    assert rate_over_tasks([]) == (0.0, 0.0, 1.0)
    assert rate_over_tasks([1.0, 0.5, 0.0], z=3.0) == (0.5, *wilson(1.5, 3, z=3.0))
    assert rate_over_tasks([1.0, 0.5, 0.0], z=3.0)[1] < lo


def test_mean_std_is_the_sample_standard_deviation():
    assert mean_std([0.3, 0.35, 0.4]) == pytest.approx((0.35, statistics.stdev([0.3, 0.35, 0.4])))
    assert mean_std([0.3, 0.5]) == pytest.approx((0.4, math.sqrt(0.02)))  # (0.01 + 0.01) / 1
    assert mean_std([0.7]) == (0.7, 0.0) and mean_std([]) == (0.0, 0.0)


def test_mcnemar_exact_worked_by_hand():
    # 5 discordant tasks, all one way: 2 * (1/2)^5 = 0.0625
    assert mcnemar_exact(0, 5) == 0.0625 and mcnemar_exact(5, 0) == 0.0625
    # 1 vs 3: 2 * (C(4,0) + C(4,1)) / 16 = 10 / 16
    assert mcnemar_exact(1, 3) == 0.625
    assert mcnemar_exact(2, 2) == 1.0 and mcnemar_exact(0, 0) == 1.0  # capped at 1


@pytest.mark.parametrize(("b", "c"), [(0, 1), (3, 9), (10, 4), (7, 7), (0, 12), (25, 40)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    assert mcnemar_exact(b, c) == pytest.approx(sps.binomtest(b, b + c, 0.5).pvalue, abs=1e-12)


def test_paired_bootstrap_interval_matches_scipy_and_p_follows_the_effect():
    diffs = [((i * 37) % 11 - 3) / 10 for i in range(40)]  # 40 tasks, mean 0.185, sd 0.32
    lo, hi, p = paired_bootstrap(diffs)
    ref = sps.bootstrap((diffs,), np.mean, n_resamples=10_000, method="percentile",
                        random_state=1).confidence_interval  # fmt: skip
    # the same percentile interval up to Monte Carlo error (its half-width is about 0.1)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=0.006)
    assert lo < statistics.mean(diffs) < hi and p < 0.01
    assert paired_bootstrap(diffs) == (lo, hi, p)  # seeded: the same numbers every time
    assert paired_bootstrap(diffs, seed=1) != (lo, hi, p)
    # no difference at all: a point interval and p = 1; no tasks: nothing to say
    assert paired_bootstrap([0.0] * 8) == (0.0, 0.0, 1.0)
    assert paired_bootstrap([]) == (0.0, 0.0, 1.0)
    # a symmetric spread around 0: far from significant; p is never 0 ((k + 1) / (draws + 1))
    assert paired_bootstrap([1.0, -1.0] * 10)[2] > 0.5
    assert paired_bootstrap([1.0] * 30, draws=999)[2] == pytest.approx(1 / 1000)
    assert paired_bootstrap([1.0] * 5)[2] == pytest.approx(1 / 10_001)  # 10,000 draws
    assert paired_bootstrap([0.5]) == (0.5, 0.5, pytest.approx(1 / 10_001))  # one task


def test_paired_bootstrap_is_the_percentile_interval_of_10000_resampled_means_seed_0():
    d = np.array([0.0, 1.0, 1.0, 0.5, -1.0, 0.0, 1.0])
    means = d[np.random.default_rng(0).integers(0, 7, (10_000, 7))].mean(axis=1)
    lo, hi, p = paired_bootstrap(d.tolist())
    assert (lo, hi) == tuple(np.percentile(means, [2.5, 97.5]))
    observed = d.mean()
    assert p == (np.sum(np.abs(means - observed) >= observed) + 1) / 10_001


def test_paired_test_uses_mcnemar_for_one_outcome_per_task_else_the_bootstrap():
    base = {"a": [0.0], "b": [1.0], "c": [0.0], "d": [0.0], "e": [1.0], "f": [0.0]}
    other = {"a": [1.0], "b": [1.0], "c": [1.0], "d": [1.0], "e": [0.0], "f": [1.0], "g": [1.0]}
    got = paired_test(base, other, binary=True)
    # 6 common tasks ("g" only in one): 4 solved only by other, 1 only by base
    assert (got.tasks, got.test) == (6, "mcnemar_exact")
    assert got.diff == pytest.approx(3 / 6)
    assert got.p == pytest.approx(sps.binomtest(1, 5, 0.5).pvalue)
    assert got.low <= got.diff <= got.high
    # seeds: per-task rates, averaged before differencing; the bootstrap's p
    seeds = {t: [v[0], 1.0] for t, v in base.items()}
    pooled = paired_test(seeds, other, binary=True)
    assert pooled.test == "paired_bootstrap"
    assert pooled.diff == pytest.approx(mean([1 - 0.5, 0, 1 - 0.5, 1 - 0.5, 0 - 1, 1 - 0.5]))
    assert pooled.p == paired_bootstrap([0.5, 0.0, 0.5, 0.5, -1.0, 0.5])[2]
    # scores: the bootstrap, even with one value per task
    assert paired_test(base, other, binary=False).test == "paired_bootstrap"
    assert paired_test({"x": [1.0]}, {"y": [0.0]}, binary=True).tasks == 0
