"""A bad command line fails at once, before any work, with Hydra's error plus a hint."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from arm_exp import cli
from arm_exp.config_check import check_overrides
from arm_exp.stages.common import ConfigError
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("stage", "overrides", "expect"),
    [
        ("plan", ["planner=mcst"], ["Could not find 'planner/mcst'", "valid options: best_of_n",
                                    "did you mean planner=mcts?"]),
        ("plan", ["planner=mcts,bon"], ["'bon' is not an option of `planner`"]),
        ("synthesize", ["llm@synthesizer_llm=gpt9"], ["not an option of `llm`", "smollm2_cpu"]),
        ("explore", ["limt=2"], ["Key 'limt' is not in struct", "did you mean limit"]),
        ("explore", ["limit=abc"], ["`limit='abc'`: expected an integer"]),
        ("explore", ["seed=1.5"], ["`seed=1.5`: expected an integer"]),
        ("explore", ["explore.num_per_task=x"], ["expected an integer (its default is"]),
        ("train", ["input_dir=x", "trainer.max_epochs=1.5"], ["max_epochs=1.5`: expected an integer"]),
        ("explore", ["force=maybe"], ["expected true or false"]),
        ("explore", ["limit=[1"], ["hint: overrides are key=value"]),
    ],
)  # fmt: skip
def test_bad_overrides_are_refused_with_a_hint(stage, overrides, expect):
    with pytest.raises(ConfigError) as e:
        check_overrides(stage, overrides)
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
    ],
)
def test_good_overrides_pass(stage, overrides):
    check_overrides(stage, overrides)


def test_cli_exits_2_before_importing_the_stage(capsys, monkeypatch):
    monkeypatch.setattr(cli, "importlib", SimpleNamespace(import_module=pytest.fail))
    with pytest.raises(SystemExit) as e:
        cli.main(["plan", "planner=mcst"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("arm-exp plan: config error:") and "did you mean planner=mcts?" in err


def test_missing_required_input_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "arm_exp.cli", "synthesize", f"hydra.run.dir={tmp_path / 'run'}",
         f"paths.root_dir={ROOT}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "arm-exp synthesize: error: `input_dir` is required" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("arg", ["+llm.api_key=sk-123", "+llm.password=x", "+wandb.auth_token=t"])
def test_a_secret_on_the_command_line_is_refused(arg):
    with pytest.raises(ConfigError, match="environment variable"):
        check_overrides("explore", ["llm=openai_server", arg])
    check_overrides("explore", ["llm=openai_server", "llm.api_key_env=MY_KEY"])
