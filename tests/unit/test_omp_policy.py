"""OpenMP's waiters sleep under arm_exp (spinning ones made the embedded LLM ~7x slower on a busy
CPU: benchmarks/omp_wait.py), and a script that loaded torch first is told so."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROBE = "import os, arm_exp; print(os.environ['OMP_WAIT_POLICY'], arm_exp.OMP_SPINNING)"


@pytest.mark.parametrize(
    ("first", "exported", "expected"),
    [
        ("", None, "PASSIVE False"),  # arm_exp first: torch will load with sleeping waiters
        ("import torch; ", None, "PASSIVE True"),  # too late for torch's runtime: flagged
        ("import torch; ", "ACTIVE", "ACTIVE False"),  # the user's own choice wins, unflagged
    ],
)
def test_wait_policy(first, exported, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if exported:
        env["OMP_WAIT_POLICY"] = exported
    out = subprocess.run([sys.executable, "-c", first + PROBE], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert out.stdout.strip() == expected
