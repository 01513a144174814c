"""Every benchmark script runs end to end in its ``--tiny`` mode and prints its RESULT lines.

``make bench`` runs the scripts at full size and nothing else ran them, so a change to the
configs or the code they drive broke them unseen. Here each runs as a user runs it
(``python benchmarks/<script>.py --tiny``: its smallest sizes) and must exit 0 and print exactly
its RESULT lines; the values are not checked (tiny sizes measure nothing). A part that needs Java
(ScienceWorld), the alfworld extra or TRL (the ``bench`` extra) is left out where they are
missing; ``gpu_check`` has its own test (test_gpu_check.py).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, have_java

BENCHMARKS = ROOT / "benchmarks"
# Not benchmarks: the shared helpers, the GPU check (test_gpu_check.py) and the builder of what
# it carries to a GPU machine (`make gpu-carry`: wheels of the installed packages).
NOT_HERE = {"benchlib", "gpu_check", "gpu_carry"}
JAVA = have_java() and importlib.util.find_spec("scienceworld") is not None
TRL = importlib.util.find_spec("trl") is not None


def _sw(names: list[str]) -> list[str]:
    """``names`` if ScienceWorld can run here, else none of them."""
    return names if JAVA else []


def _runs() -> dict[str, tuple[list[str], list[str]]]:
    """script -> (its arguments after --tiny, the RESULT names it must print)."""
    plans = ["g24_mcts"]  # each workload is two `arm-exp plan` processes: one is enough here
    mcts = ["game24", *_sw(["scienceworld"])]
    sides = ["ours", "trl"] if TRL else ["ours"]
    return {
        "env_step": (
            [] if JAVA else ["--skip", "scienceworld"],
            [
                *(f"env_step_game24_{m}{c}" for m in ("parse", "valid_actions") for c in ("", "_cpu")),
                *_sw(["env_step_scienceworld_no_valid_speedup"]),
                "env_step_webshop_search_ms",
                "env_step_webshop_click_ms",
            ],
        ),
        "rm_scoring": (
            [],
            ["rm_scoring_best_of_4_speedup", "rm_scoring_mcts_episode_speedup",
             "rm_scoring_mcts_cache_hit_rate"],
        ),
        "mcts_cost": (
            [] if JAVA else ["--skip", "scienceworld"],
            [f"mcts_cost_{b}_{r}" for b in mcts
             for r in ("max_steps_over_depth_plus_1", "env_steps_ratio", "wall_speedup")],
        ),
        "rm_training": (
            ["--sides", ",".join(sides)],
            [f"rm_training_{s}_pairs_per_s" for s in sides]
            + (["rm_training_pairs_per_s_ratio", "rm_training_peak_rss_ratio",
                "rm_training_val_acc_diff"] if TRL else []),
        ),
        "end_to_end": (
            [],
            ["end_to_end_total_wall_s", "end_to_end_max_stage_peak_rss_mb"],
        ),
        "plan_concurrency": (
            ["--only", ",".join(plans)],
            [f"plan_concurrency_{w}_{r}" for w in plans for r in ("speedup", "wall_over_ideal")],
        ),
        "rm_backbones": (
            [],
            [f"rm_backbones_{m}_{r}" for m in ("minilm", "smollm2_135m")
             for r in ("val_pair_acc", "best_of_n_lift")],
        ),
        "omp_wait": ([], ["omp_passive_speedup"]),
        "reflexion_verdict": ([], ["reflexion_success_fixed", "reflexion_success_leaky"]),
        "llm_throughput": ([], ["cpu_hf_local_batch1_tokens_per_s"]),
        "webshop_env": (
            [],
            ["webshop_env_search_ms", "webshop_env_click_ms", "webshop_env_index_build_1k_s"],
        ),
        "webshop_truncated_negatives": (
            [],
            ["webshop_purchase_pair_acc_armap", "webshop_purchase_pair_acc_truncated"],
        ),
        "scienceworld_speed": (
            [],
            ["scienceworld_jvm_start_s", "scienceworld_step_ms",
             "scienceworld_step_valid_actions_ratio", "scienceworld_wrapper_step_ratio",
             "scienceworld_random_explorer_mean_score"],
        ),
        "alfworld_latency": (
            [],
            [f"alfworld_{k}_ms" for k in ("load", "reset", "step", "restore")],
        ),
    }  # fmt: skip


RUNS = _runs()
NEEDS = {"scienceworld_speed": "java", "alfworld_latency": "alfworld"}
# Scripts that write their stages' run dirs under outputs/bench/ unless told where.
OUT_ARG = {"rm_training", "rm_backbones", "webshop_truncated_negatives", "end_to_end"}


def test_every_benchmark_script_has_a_tiny_run():
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")} - NOT_HERE
    assert scripts == set(RUNS)
    makefile = (ROOT / "Makefile").read_text()
    listed = re.search(r"^BENCH_SCRIPTS \?= (.*)$", makefile, re.M)
    assert listed and set(listed.group(1).split()) <= set(RUNS)


# The three that train a reward model run from their own file (test_benchmarks_training.py),
# so `make test`'s two workers (one test file each at a time) share the benchmarks' ~5 minutes.
TRAINING = ("end_to_end", "rm_backbones", "webshop_truncated_negatives")


@pytest.mark.parametrize("script", sorted(set(RUNS) - set(TRAINING)))
def test_benchmark_runs_in_tiny_mode(script: str, tmp_path: Path):
    run_tiny(script, tmp_path)


def run_tiny(script: str, tmp_path: Path) -> None:
    """Run ``benchmarks/<script>.py --tiny``; it must exit 0 and print exactly its RESULT names."""
    need = NEEDS.get(script)
    if need == "java" and not JAVA:
        pytest.skip("needs Java 17 and the scienceworld package")
    if need == "alfworld" and importlib.util.find_spec("alfworld") is None:
        pytest.skip("needs the alfworld extra (make alfworld)")
    args, expected = RUNS[script]
    if script in OUT_ARG:
        args = [*args, "--out", str(tmp_path / ("out.json" if script == "end_to_end" else "out"))]
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{script}.py"), "--tiny", *args],
        cwd=tmp_path,  # anything a script writes relative to its cwd lands here
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    names = re.findall(r"^RESULT (\S+) value=\S+ target=.+ unit=\S+$", proc.stdout, re.M)
    assert sorted(names) == sorted(expected), proc.stdout[-3000:]
