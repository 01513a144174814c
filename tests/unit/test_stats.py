"""The Wilson interval and the mean behind every success rate we report, the interval of a mean
score and the per-task-type metrics, checked against values computed independently:
hand-worked numbers, the interval as the roots of its defining quadratic, and ``scipy.stats``."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats as sps

from arm_exp.stats import by_type_metrics, mean, mean_ci, wilson


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
