"""Small statistics used by plan metrics and reports.

Reports take the task as the unit: a task's repeats (seeds, repeated runs) are averaged into
one per-task value before any rate, interval or test (:func:`rate_over_tasks`,
:func:`paired_test`), so repeats never count as more tasks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95% by default); (0, 1) for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def mean_ci(values: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """A 95% interval of a mean score (normal approximation, sample standard deviation),
    clipped to [0, 1] (benchmark scores are in [0, 1]); (0, 1) for fewer than two values.

    At the benchmarks' sizes (100-211 episodes) the normal and Student-t quantiles differ by
    under 1%; below ~30 episodes the interval is too narrow and says so only by its width.
    """
    n = len(values)
    if n < 2:
        return 0.0, 1.0
    m = sum(values) / n
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(var / n)
    return max(0.0, m - half), min(1.0, m + half)


def by_type_metrics(
    prefix: str, records: Sequence[Any], name: str, value: Callable[[list[Any]], float]
) -> dict[str, float]:
    """``{prefix}/by_type/<task type>/{name}`` for records whose ``meta`` has a ``task_type``.

    ``value(records)`` computes the metric for one group (e.g. a success share).
    """
    groups: dict[str, list[Any]] = {}
    for r in records:
        t = r.meta.get("task_type") if isinstance(getattr(r, "meta", None), dict) else None
        if t is not None:
            groups.setdefault(str(t), []).append(r)
    return {f"{prefix}/by_type/{t}/{name}": float(value(rs)) for t, rs in sorted(groups.items())}


def rate_over_tasks(per_task: Sequence[float], z: float = 1.96) -> tuple[float, float, float]:
    """A success rate with the task as the unit: the mean of the per-task success rates (each
    task's repeats, e.g. seeds, averaged first) and its Wilson interval with n = the number of
    tasks. With one episode per task this is the plain Wilson interval. With repeats, a task's
    rate lies in [0, 1], so its variance is at most p (1 - p): the interval is never narrower
    than the spread across tasks allows (conservative), repeats never count as more tasks, and
    unlike a t interval it keeps a width at 0% and 100%."""
    n = len(per_task)
    rate = sum(per_task) / n if n else 0.0
    lo, hi = wilson(sum(per_task), n, z)
    return rate, lo, hi


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); the std is 0 for fewer than two values."""
    m = mean(values)
    if len(values) < 2:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided p of the exact McNemar test: ``b`` tasks solved only by one system, ``c`` only
    by the other; under the null each discordant task goes either way with probability 1/2."""
    n = b + c
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(
    diffs: Sequence[float], draws: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """(low, high, p) for the mean of per-task differences, resampling tasks with replacement:
    the 95% percentile interval, and the two-sided p of the bootstrap test of a zero mean
    (resampled means shifted to the null; ``(k + 1) / (draws + 1)``, never 0). Deterministic for
    a seed. (0, 0, 1) for no tasks."""
    import numpy as np

    d = np.asarray(diffs)
    if d.size == 0:
        return 0.0, 0.0, 1.0
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, (draws, d.size))].mean(axis=1)
    observed = float(d.mean())
    extreme = int(np.sum(np.abs(means - observed) >= abs(observed)))
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi), (extreme + 1) / (draws + 1)


@dataclass
class Paired:
    """A paired comparison of two systems on the tasks both were evaluated on: ``diff`` is
    (other - base) of the per-task mean, with its 95% interval and two-sided ``p``."""

    tasks: int
    diff: float
    low: float
    high: float
    p: float
    test: str  # "mcnemar_exact" | "paired_bootstrap"


def paired_test(
    base: Mapping[str, Sequence[float]], other: Mapping[str, Sequence[float]], binary: bool
) -> Paired:
    """Compare ``other`` with ``base`` over their common tasks (task id -> the task's values:
    one per episode, several with repeats such as seeds). Each task counts once: its values are
    averaged first. With exactly one success/failure per task in each (``binary``) the p is the
    exact McNemar test's; otherwise (repeats, or scores) the paired bootstrap's. The interval is
    the paired bootstrap's percentile interval over tasks in both cases."""
    common = sorted(set(base) & set(other))
    diffs = [mean(other[t]) - mean(base[t]) for t in common]
    low, high, p = paired_bootstrap(diffs)
    single = all(len(base[t]) == 1 and len(other[t]) == 1 for t in common)
    test = "paired_bootstrap"
    if binary and single:
        test = "mcnemar_exact"
        p = mcnemar_exact(sum(d > 0 for d in diffs), sum(d < 0 for d in diffs))
    return Paired(len(common), mean(diffs), low, high, p, test)
