"""Small statistics used by plan metrics and reports."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
