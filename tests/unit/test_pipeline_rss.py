"""pipeline.run_measured: a stage's exit code and its own peak RSS (not the max of all children).

Measured from a fresh, small interpreter: Linux counts the parent's pages a child held before
``exec``, so inside a pytest process that has loaded models the floor would be that process's
RSS (as in the pipeline, whose floor is its own ~0.4 GiB).
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from arm_exp.stages.pipeline import run_measured
big = [sys.executable, "-c", "x = bytearray(600 * 2**20); x[::4096] = b'1' * len(x[::4096])"]
small = [sys.executable, "-c", "import sys; sys.exit(3)"]
print(json.dumps([run_measured(big), run_measured(small)]))
"""


def test_run_measured_reports_each_childs_own_peak_rss():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    (code_big, rss_big), (code_small, rss_small) = json.loads(out.stdout.strip().splitlines()[-1])
    assert code_big == 0 and rss_big >= 600
    # not the earlier child's 600 MB
    assert code_small == 3 and 0 < rss_small < rss_big - 300
