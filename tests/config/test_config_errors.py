"""A bad command line fails at once, before any work, with Hydra's error plus a hint; a good one
(the commands the README gives) passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from arm_exp.config_check import check_overrides
from arm_exp.errors import ConfigError
from arm_exp.stages import get
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("stage", "overrides", "expect"),
    [
        ("plan", ["planner=mcst"], ["'mcst' is not an option of `planner`",
                                    "valid options: beam_search, best_of_n", "did you mean planner=mcts?"]),
        ("plan", ["-m", "planner=mcts,bon"], ["'bon' is not an option of `planner`"]),
        ("synthesize", ["llm@synthesizer_llm=gpt9"], ["not an option of `llm`", "smollm2_cpu"]),
        ("explore", ["limt=2"], ["Key 'limt' not in 'ArmExpConfig'", "did you mean limit"]),
        ("explore", ["limit=abc"], ["`limit` = 'abc' (set on the command line: limit=abc): "
                                    "expected int | None"]),
        ("explore", ["seed=1.5"], ["`seed` = 1.5 (set on the command line: seed=1.5): expected int"]),
        ("explore", ["explore.num_per_task=x"], ["`explore.num_per_task` = 'x'", "expected int"]),
        ("train", ["trainer.max_epochs=1.5"], ["`trainer.max_epochs` = 1.5 (set on the command line:"
                                               " trainer.max_epochs=1.5): expected Optional[int] "
                                               "(Trainer's `max_epochs`)"]),
        ("plan", ["planner.n=abc"], ["`planner.n` = 'abc' (set on the command line: planner.n=abc):"
                                     " expected int (BestOfNPlanner's `n`)"]),
        ("pipeline", ["-m", "planner=mcts", "planner.rollouts=4,x"], ["`planner.rollouts` = 'x'"]),
        ("explore", ["force=maybe"], ["`force` = 'maybe'", "expected bool"]),
        ("pipeline", ["benchmark.planning.best_of_n=four"], [
            "`benchmark.planning.best_of_n` = 'four' (set on the command line: "
            "benchmark.planning.best_of_n=four): expected int"]),
        ("pipeline", ["train.optimizer.lr=1e-4x"], [
            "`train.optimizer.lr` = '1e-4x' (set on the command line: train.optimizer.lr=1e-4x): "
            "expected float | torch.Tensor (AdamW's `lr`)"]),
        ("plan", ["+planner.rollout=3"], ["`planner.rollout` (set on the command line: "
                                          "+planner.rollout=3): BestOfNPlanner takes no argument "
                                          "`rollout`"]),
        ("explore", ["limit=[1"], ["hint: overrides are key=value"]),
        ("train", ["planner=mcts"], ["arm-exp train does not read `planner`"]),
        ("plan", ["loss=hinge"], ["arm-exp plan does not read `loss`"]),
        ("pipeline", ["loss.margin=0.5"], ["the chosen `loss` has no `margin`",
                                           "loss=hinge loss.margin=..."]),
        ("explore", ["explorer_llm.model=m"], ["`explorer_llm` follows `llm`",
                                               "llm@explorer_llm=openai_server"]),
    ],
)  # fmt: skip
def test_bad_overrides_are_refused_with_a_hint(stage, overrides, expect):
    with pytest.raises(ConfigError) as e:
        check_overrides(get(stage), overrides)
    for text in expect:
        assert text in str(e.value)


@pytest.mark.parametrize(
    ("stage", "overrides"),
    [
        ("explore", ["limit=2", "split=test", "seed=3", "task_ids=[900,901]", "limit=null"]),
        ("plan", ["planner=mcts,best_of_n", "-m"]),
        ("train", ["trainer.max_steps=2", "train.optimizer.lr=1e-4", "trainer.max_epochs=2"]),
        ("plan", ["scorer=none", "planner=greedy", "hydra.run.dir=/tmp/x", "limit=${seed}"]),
        ("explore", ["--help"]),
        ("pipeline", ["loss=hinge", "loss.margin=0.5", "benchmark=webshop", "planner.n=16"]),
        ("pipeline", ["-m", "planner=mcts,best_of_n", "scorer=rm,oracle"]),
        ("explore", ["llm@explorer_llm=openai_server", "explorer_llm.base_url=http://h:1/v1"]),
    ],
)
def test_good_overrides_pass(stage, overrides):
    check_overrides(get(stage), overrides)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arm_exp.cli", *args, f"paths.root_dir={ROOT}"],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [["plan", "planner=mcst"], ["pipeline", "-m", "planner=mcts,best_of_n", "planner.n=abc"]],
)
def test_cli_exits_2_with_one_message(args):
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"arm-exp {args[0]}: config error:")
    assert "Traceback" not in proc.stderr


def test_missing_required_input_is_one_clear_line(tmp_path):
    proc = _cli("synthesize", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 1
    assert "arm-exp synthesize: error: `input_dir` is required" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("arg", ["+llm.api_key=sk-123", "+llm.password=x", "+wandb.auth_token=t"])
def test_a_secret_on_the_command_line_is_refused(arg):
    with pytest.raises(ConfigError, match="environment variable"):
        check_overrides(get("explore"), ["llm=openai_server", arg])
    check_overrides(get("explore"), ["llm=openai_server", "llm.api_key_env=MY_KEY"])


@pytest.mark.parametrize(
    ("group", "body", "expect"),
    [
        ("experiment", "benchmark:\n  planning:\n    best_of_n: four\n",
         "`benchmark.planning.best_of_n` = 'four' (set in conf/experiment/bad.yaml:5): "
         "expected int"),
        ("experiment", "train:\n  optimizer:\n    lr: 1e-4x\n",
         "`train.optimizer.lr` = '1e-4x' (set in conf/experiment/bad.yaml:5): expected float | "
         "torch.Tensor (AdamW's `lr`)"),
        ("experiment", "planner:\n  temperature: warm\n",
         "`planner.temperature` = 'warm' (set in conf/experiment/bad.yaml:4): expected float "
         "(BestOfNPlanner's `temperature`)"),
        ("benchmark", "defaults:\n  - game24\n  - _self_\nnum_envs: many\n",
         "`benchmark.num_envs` = 'many' (set in conf/benchmark/bad.yaml:6): expected int"),
        ("benchmark", "defaults:\n  - game24\n  - _self_\nenv:\n  test_end: last\n",
         "`benchmark.env.test_end` = 'last' (set in conf/benchmark/bad.yaml:7): expected int "
         "(Game24Env's `test_end`)"),
    ],
)  # fmt: skip
def test_a_wrong_type_in_a_config_file_stops_the_pipeline_before_any_stage(
    tmp_path, group, body, expect
):
    """A lab's own experiment or benchmark file (``ARM_EXP_CONF``: a copy of conf/) with a wrong
    value: the pipeline exits 2 with one line naming the key, the value, the type and the file's
    line, and no stage has run (nothing in the cache, no run dir)."""
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    header = "# @package _global_\n" if group == "experiment" else "\n"
    (conf / group / "bad.yaml").write_text(f"{header}# ours\n{body}")
    proc = subprocess.run(
        [sys.executable, "-m", "arm_exp.cli", "pipeline", f"{group}=bad", "policy=random",
         "limit=5"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={**os.environ, "ARM_EXP_CONF": str(conf), "ARM_EXP_ROOT": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    assert not (tmp_path / "outputs").exists(), "no run dir, no cache"


@pytest.mark.parametrize("stage", ["explore", "pipeline"])
def test_a_missing_data_dir_is_one_line_and_exit_2(tmp_path, stage):
    """A DataError (arm_exp/errors.py): no traceback, the key to set and the shipped stand-in;
    the pipeline whose explore stage says so exits 2 too, naming the stage's log."""
    env = {k: v for k, v in os.environ.items() if k != "ALFWORLD_DATA"}
    env["ARM_EXP_ROOT"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "arm_exp.cli", stage, "benchmark=alfworld", "limit=1",
         f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("arm-exp ")]
    assert lines[0].startswith("arm-exp explore: error: the ALFWorld data dir is not set")
    assert "benchmark=alfworld_shipped" in lines[0] and "Traceback" not in proc.stderr
    if stage == "explore":
        assert not (tmp_path / "run").exists(), "a run that made nothing leaves no dir"
    else:
        assert lines[1].startswith("arm-exp pipeline: error: pipeline: stage explore failed with")
