"""The benchmark scripts that train a reward model, in their ``--tiny`` mode (see
test_benchmarks.py; a file of their own so that the suite's two workers share the load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_benchmarks import TRAINING, run_tiny


@pytest.mark.parametrize("script", TRAINING)
def test_training_benchmark_runs_in_tiny_mode(script: str, tmp_path: Path):
    run_tiny(script, tmp_path)
