"""ScienceWorld without the engine: splits, task ids, step limits, lazy imports, the agent's
prompt and parser, and the runner hooks the env relies on (pool cap, aborted episodes)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arm_exp.agents.base import AgentContext
from arm_exp.agents.policy import RandomPolicy
from arm_exp.agents.scienceworld import ScienceWorldAgent, clean_action, load_example
from arm_exp.envs.base import UnknownSplitError, UnknownTaskError
from arm_exp.envs.game24 import Game24Env
from arm_exp.envs.scienceworld import (
    ScienceWorldEnv,
    engine_task_name,
    load_step_limits,
    parse_task_id,
)
from arm_exp.rollout import EpisodeJob, Rollouts
from arm_exp.types import Step, Trajectory
from tests.conftest import ROOT


def test_splits_match_eto():
    env = ScienceWorldEnv()
    splits = {s: env.task_ids(s) for s in ("train", "seen", "unseen")}
    assert {s: len(ids) for s, ids in splits.items()} == {"train": 1483, "seen": 194, "unseen": 211}
    for ids in splits.values():
        assert len(set(ids)) == len(ids)
        assert len({env.task_type(t) for t in ids}) == 24
    # ETO's files as they are: 54 seen variations are also in its train list; unseen is apart.
    assert len(set(splits["train"]) & set(splits["seen"])) == 54
    assert not set(splits["train"]) & set(splits["unseen"])
    assert not set(splits["seen"]) & set(splits["unseen"])
    # File order is kept: `limit=N` means the first N of ETO's list.
    assert splits["seen"][:2] == [
        "test-conductivity-of-unknown-substances/418",
        "find-living-thing/186",
    ]
    assert splits["unseen"][0] == "boil/21"
    with pytest.raises(UnknownSplitError, match="seen"):
        env.task_ids("dev")


def test_task_names_follow_the_engine():
    assert engine_task_name("task-1-boil") == "boil"
    assert engine_task_name("task-2a-test-conductivity") == "test-conductivity"
    assert (
        engine_task_name("task-10-measure-melting-point-(known-substance)")
        == "measure-melting-point-known-substance"
    )
    assert engine_task_name("task-9-mendellian-genetics-(known-plant)") == (
        "mendelian-genetics-known-plant"
    )
    assert engine_task_name("boil") == "boil"
    constants = pytest.importorskip("scienceworld.constants")
    engine_names = {t["task_name"] for t in constants.TASKS}
    assert len(engine_names) == 30
    env = ScienceWorldEnv()
    split_names = {env.task_type(t) for s in ("train", "seen", "unseen") for t in env.task_ids(s)}
    assert split_names <= engine_names and set(load_step_limits()) == split_names


def test_task_ids_and_step_limits():
    assert parse_task_id("boil/21") == ("boil", 21)
    for bad in ["boil", "boil/", "/3", "boil/x", "boil/-1", ""]:
        with pytest.raises(UnknownTaskError, match="task id"):
            parse_task_id(bad)
    env = ScienceWorldEnv()
    assert env.step_limit("boil/21") == 100 and env.step_limit("find-animal/3") == 15
    assert env.step_limit("inclined-plane-determine-angle/0") == 100  # not in ETO's file
    assert ScienceWorldEnv(max_steps=7).step_limit("boil/21") == 7
    assert env.task_meta("boil/21") == {"variation": 21, "simplifications": "easy"}
    assert env.max_parallel() >= 1
    with pytest.raises(RuntimeError, match="before reset"):
        env.step("look around")


def test_configs_build_without_starting_the_engine_or_importing_it():
    code = (
        "import sys\n"
        "from hydra.utils import instantiate\n"
        "from arm_exp.config import compose\n"
        "for b in ['scienceworld', 'scienceworld_seen', 'scienceworld_unseen']:\n"
        f"    cfg = compose('explore', ['benchmark=' + b, 'paths.root_dir={ROOT}'], '/tmp/sw-cfg')\n"
        "    env = instantiate(cfg.benchmark.env)\n"
        "    instantiate(cfg.benchmark.agent)\n"
        "    assert env.jvm_pid is None and env.task_ids(cfg.benchmark.eval_split)\n"
        "print(sorted(m for m in ('scienceworld', 'py4j') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


# -- agent -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "action", "thought"),
    [
        (
            "Thought: I need paint.\nAction: teleport to art studio",
            "teleport to art studio",
            "I need paint.",
        ),
        ("thought: hmm\naction:   Look   Around.", "look around", "hmm"),
        ("**Thought:** go\n**Action:** `open door to kitchen`", "open door to kitchen", "go"),
        (
            'Thought: a\nmore reasoning\nAction 3: "focus on lead"',
            "focus on lead",
            "a more reasoning",
        ),
        ("Thought: x\nAction:\n  pick up thermometer\n", "pick up thermometer", "x"),
        (
            "Thought: x\nAction: look around\nObservation: You see a cat.\nAction: eat cat",
            "look around",
            "x",
        ),
        ("look around", "look around", ""),
        ("  ACTION : Wait1 ", "wait1", ""),
        (
            "Thought: the answer is the first choice\nAction: 0",
            "0",
            "the answer is the first choice",
        ),
    ],
)
def test_parse_reads_thought_and_action(text, action, thought):
    p = ScienceWorldAgent().parse(text)
    assert p.actions == [action] and p.thought == thought and p.text == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n  ",
        "Thought: I am not sure what to do yet.",
        "Observation: nothing\nAction: look",
        "A\nB\nC",
        "Action: " + "x" * 400,
    ],
)
def test_parse_without_a_usable_action(text):
    assert ScienceWorldAgent().parse(text).actions == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_parse_never_raises(text):
    p = ScienceWorldAgent().parse(text)
    assert len(p.actions) <= 1
    assert all(a == clean_action(a) and a for a in p.actions)


def _traj(steps: list[Step]) -> Trajectory:
    return Trajectory("x", "scienceworld", "boil/21", "Your task is to boil lead.", "room", steps)


def test_prompt_alternates_roles_and_carries_thoughts():
    agent = ScienceWorldAgent()
    steps = [
        Step("look around", "This room is called the kitchen.", thought="Where am I?"),
        Step("fly", "No known action matches that input.", info={"invalid": True}),
    ]
    ctx = AgentContext(
        "Your task is to boil lead.", _traj(steps), lambda: [], random.Random(0), ["Use the stove."]
    )
    msgs = agent.prompt(ctx)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    first = msgs[0]["content"]
    assert first.rstrip().endswith("Your task is to boil lead.")
    assert "Use the stove." in first and "Action: focus on orange paint" in first
    assert msgs[1]["content"] == "Thought: Where am I?\nAction: look around"
    assert msgs[3]["content"] == "Action: fly"
    assert msgs[4]["content"] == "Observation: No known action matches that input."
    short = ScienceWorldAgent(max_history=1).prompt(ctx)
    assert len(short) == 3 and "first 1 steps are not shown" in short[0]["content"]


def test_example_is_a_training_variation():
    ex = load_example()
    env = ScienceWorldEnv()
    assert ex["task_id"] in env.task_ids("train")
    assert ex["task_id"] not in set(env.task_ids("seen")) | set(env.task_ids("unseen"))
    roles = [t["role"] for t in ex["turns"]]
    assert roles[0] == "user" and all(a != b for a, b in zip(roles, roles[1:], strict=False))


# -- runner hooks ------------------------------------------------------------------------------
class _SmallPool(Game24Env):
    def max_parallel(self) -> int:
        return 2


class _Aborting(Game24Env):
    def step(self, action):
        obs, reward, done, info = super().step(action)
        return "engine died", 0.0, True, {**info, "score": 0.0, "error": "engine failure: boom"}


def test_runner_caps_its_pool_to_max_parallel():
    runner = Rollouts(_SmallPool, RandomPolicy(), num_envs=5)
    jobs = [EpisodeJob(f"{i}", str(i), i) for i in range(7)]
    trajs = list(runner.run(jobs))
    assert len(trajs) == 7 and len(runner.envs) == 2 and runner.num_envs == 2


def test_runner_records_aborted_episodes():
    runner = Rollouts(_Aborting, RandomPolicy(), num_envs=2)
    trajs = list(runner.run([EpisodeJob("a", "0", 0), EpisodeJob("b", "1", 1)]))
    for t in trajs:
        assert t.meta["stop_reason"] == "error" and t.meta["error"] == "engine failure: boom"
        assert t.score == 0.0 and not t.success and len(t.steps) == 1
    json.dumps([t.meta for t in trajs])
