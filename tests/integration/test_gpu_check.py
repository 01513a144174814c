"""The prepared GPU check runs end to end on CPU (``--device cpu --tiny``), through its shell entry.

What a GPU machine runs is the same script with full shapes; this keeps it from rotting between
the rare occasions a GPU is lent (benchmarks/gpu_check.py says what it measures).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT


def test_gpu_check_runs_in_tiny_cpu_mode(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    command = [
        ROOT / "benchmarks" / "gpu_check.sh",
        "--device",
        "cpu",
        "--tiny",
        "--work",
        tmp_path,
    ]
    proc = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    results = dict(re.findall(r"^RESULT (\S+) value=(\S+)", out, flags=re.M))
    expected = [
        *(f"gpu_check_train_{m}_{k}" for m in ("qwen25_05b", "sheared_llama_27b")
          for k in ("pairs_per_s", "tokens_per_s")),
        "gpu_check_ckpt_score_rel_diff",
        "gpu_check_resume_steps",
        "gpu_check_score_beside_vllm_items_per_s",
        "gpu_check_score_best_of_8_speedup",
        "gpu_check_score_mcts_episode_speedup",
        *(f"gpu_check_generate_batch{b}_tokens_per_s" for b in (1, 8, 64)),
    ]  # fmt: skip
    assert sorted(results) == sorted(expected), out[-3000:]
    assert all(
        float(v) > 0 for v in results.values() if v != results["gpu_check_ckpt_score_rel_diff"]
    )
    # The checkpoint scores as the trained model did, and the resumed run took its one step.
    assert float(results["gpu_check_ckpt_score_rel_diff"]) < 1e-3
    assert float(results["gpu_check_resume_steps"]) == 1
    # Every reward model's LoRA adapters moved during its timed steps.
    rows = [line for line in out.splitlines() if line.startswith(("| qwen25", "| sheared"))]
    assert len(rows) == 2 and all(r.rstrip(" |").endswith("yes") for r in rows), rows
    assert "random (built from configs; no downloads)" in out
