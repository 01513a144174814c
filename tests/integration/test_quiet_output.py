"""What `arm-exp train` prints is ours to act on: no Lightning advertisement, no deprecation
warning raised inside Lightning, no log-interval or checkpoint-format notice."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

NOISE = ("litlogger", "LeafSpec", "log_every_n_steps", "`weights_only` was not set")


def test_train_output_holds_no_third_party_noise(triplets_game24, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "arm_exp.stages.train", f"input_dir={triplets_game24}",
         "trainer.max_steps=2", "reward_model.max_length=32", "train.data.batch_size=4",
         "trainer.enable_progress_bar=false", f"hydra.run.dir={tmp_path}",
         f"paths.root_dir={ROOT}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert [n for n in NOISE if n in out] == [], out[-3000:]
    assert f"-> {tmp_path}" in proc.stdout  # the run itself still reports
