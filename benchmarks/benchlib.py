"""What every benchmark script shares: interleaved repetitions, medians, a table, RESULT lines.

Scripts import it as ``benchlib`` (``python benchmarks/<script>.py`` puts this folder on
``sys.path``). Nothing here is part of the ``arm_exp`` package.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def interleaved(
    contenders: dict[str, Callable[[], Any]], reps: int, warmup: int = 1
) -> dict[str, list[tuple[float, Any]]]:
    """Run each contender ``reps`` times, interleaved (rep 1 of each, then rep 2, ...).

    Returns ``name -> [(seconds, return value), ...]``; ``warmup`` untimed rounds go first, so
    lazy imports and first-touch allocations are not charged to whoever runs first.
    """
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    out: dict[str, list[tuple[float, Any]]] = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            t = time.perf_counter()
            value = fn()
            out[name].append((time.perf_counter() - t, value))
    return out


def median_s(runs: Sequence[tuple[float, Any]]) -> float:
    return statistics.median(s for s, _ in runs)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width table (Markdown-compatible pipes)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        if x == 0 or 0.01 <= abs(x) < 1e6:
            return f"{x:.3f}" if abs(x) < 100 else f"{x:,.1f}"
        return f"{x:.3g}"
    return str(x)


def result(name: str, value: float, target: float | str, unit: str) -> str:
    """The headline line every script ends with (and prints)."""
    line = f"RESULT {name} value={value:.4g} target={target} unit={unit}"
    print(line, flush=True)
    return line


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def device_arg(ap: Any) -> None:
    """``--device`` and ``--threads`` (torch intra-op threads; 0 keeps torch's default)."""
    ap.add_argument(
        "--device", default="cpu", help="torch device for model work (cpu, cuda, cuda:1, ...)"
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch.set_num_threads (0: torch's default, one per core). On an oversubscribed "
        "CPU, 2 threads can be 10x slower than 1 (spinning threads wait for each other)",
    )


def demo_stages(scratch: Path) -> tuple[dict[str, list[list[str]]], Any]:
    """Each stage's overrides in ``arm-exp pipeline experiment=demo_game24`` (one list per plan
    run for ``plan``; :func:`arm_exp.stages.pipeline.stage_overrides`), and the composed
    pipeline config (``scratch``: a dir for Hydra's compose)."""
    from arm_exp.config import compose
    from arm_exp.stages.pipeline import stage_overrides

    demo = "experiment=demo_game24"
    cfg = compose("pipeline", [f"paths.root_dir={ROOT}", demo], scratch, set_hydra_config=False)
    return stage_overrides(cfg, [demo]), cfg


def tiny_arg(ap: Any) -> None:
    """``--tiny``: the script's smallest sizes, only to check that it runs end to end and prints
    its RESULT lines (``make test``: tests/integration/test_benchmarks.py); its numbers mean
    nothing."""
    ap.add_argument(
        "--tiny", action="store_true", help="smallest sizes: checks that it runs (numbers: none)"
    )


def apply_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
