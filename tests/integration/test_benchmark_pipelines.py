"""`arm-exp pipeline` end to end on CPU with the embedded defaults (issue 26): random exploration,
rule synthesis (hindsight intents), a reward model trained on them, Best-of-N with it. Game of 24
and WebShop here; ScienceWorld's and ALFWorld's runs live in test_scienceworld.py and
test_alfworld.py, which need their engines. Small sizes: each run is five short stages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arm_exp.artifacts import load_manifest
from tests.conftest import ROOT

SMALL = [
    "explorer=random",
    "synthesis=rule",
    "policy=random",
    "planner=best_of_n",
    "scorer=rm",
    "trainer.max_steps=3",
    "reward_model.max_length=64",
    "train.data.batch_size=4",
    "trainer.enable_progress_bar=false",
    "benchmark.planning.best_of_n=2",
]


def run_pipeline(
    tmp_path: Path, benchmark: str, *overrides: str, run: str = "run"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the pipeline on ``benchmark`` at small sizes (stage cache: ``tmp_path/cache``);
    returns the synthesize stage's counts (triplets kept, drops by reason) and the stages, after
    checking that every stage ran and the report has the row."""
    cmd = [sys.executable, "-m", "arm_exp.cli", "pipeline", f"benchmark={benchmark}", *SMALL,
           *overrides, f"paths.root_dir={ROOT}", f"pipeline.cache_dir={tmp_path / 'cache'}",
           f"hydra.run.dir={tmp_path / run}"]  # fmt: skip
    env = {**os.environ, "ARM_EXP_ROOT": str(tmp_path)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stages = load_manifest(tmp_path / run)["counts"]["stages"]
    assert [s["stage"] for s in stages] == ["explore", "synthesize", "train", "plan", "report"]
    synth = load_manifest(Path(stages[1]["dir"]))["counts"]
    assert synth["triplets"] > 0 and synth["sources"] > 0
    assert "| rm (minilm, bradley_terry) |" in (tmp_path / run / "report.md").read_text()
    return synth, stages


@pytest.mark.parametrize(
    ("benchmark", "overrides"),
    [
        ("game24", ["limit=3", "explore.num_per_task=2"]),
        ("webshop", ["limit=6", "explore.num_per_task=2", "benchmark.max_steps=6"]),
    ],
)
def test_pipeline_with_rule_synthesis_completes(tmp_path, benchmark, overrides):
    synth, _ = run_pipeline(tmp_path, benchmark, *overrides)
    assert synth["benchmark"].startswith(benchmark) and synth["synthesis"] == "rule"
    assert sum(synth["kept"].values()) >= synth["triplets"]  # counted before de-duplication
