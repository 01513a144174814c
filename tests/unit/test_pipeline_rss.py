"""pipeline.run_measured: a stage's exit code and its own peak RSS (not the max of all children)."""

from __future__ import annotations

import sys

from arm_exp.stages.pipeline import run_measured


def test_run_measured_reports_each_childs_own_peak_rss():
    big = [sys.executable, "-c", "x = bytearray(600 * 2**20); x[::4096] = b'1' * len(x[::4096])"]
    small = [sys.executable, "-c", "import sys; sys.exit(3)"]
    code, rss_big = run_measured(big)
    assert code == 0 and rss_big >= 600
    code, rss_small = run_measured(small)
    # not the earlier child's 600 MB (the floor is this process's own RSS, inherited until exec)
    assert code == 3 and 0 < rss_small < rss_big - 300
