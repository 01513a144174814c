"""ALFWorld without the engine: the ReAct agent, the shipped games' layout, the env's data
errors. Nothing here needs the alfworld extra (tests/integration/test_alfworld.py does)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arm_exp.agents.alfworld import AlfWorldAgent, infer_task_type, load_examples
from arm_exp.agents.base import AgentContext
from arm_exp.envs.alfworld import (
    TASK_TYPES,
    AlfWorldDataError,
    AlfWorldEnv,
    shipped_games_dir,
)
from arm_exp.envs.alfworld_games import GAMES, trial_path
from arm_exp.envs.base import UnknownSplitError, UnknownTaskError
from arm_exp.types import Step, Trajectory

SHIPPED = Path(shipped_games_dir())


def _ctx(task_type: str | None, intent: str = "put some spraybottle on toilet.", steps=()):
    meta = {"task_type": task_type} if task_type else {}
    obs = f"You are in the middle of a room.\nYour task is to: {intent}"
    traj = Trajectory("x", "alfworld", "t", intent, obs, steps=list(steps), meta=meta)
    return AgentContext(intent, traj, lambda: [], random.Random(0))


# -- the agent -------------------------------------------------------------------------------


def test_parse_takes_the_first_action_line_and_the_thought():
    p = AlfWorldAgent().parse(
        "Thought: The mug is on countertop 2.\nAction: take mug 1 from countertop 2\n"
        "Action: go to sinkbasin 1"
    )
    assert p.actions == ["take mug 1 from countertop 2"]
    assert p.thought == "The mug is on countertop 2."
    p = AlfWorldAgent().parse("**Thought:** hmm\n**Action:** `go to desk 1`")
    assert p.actions == ["go to desk 1"] and p.thought == "hmm"
    p = AlfWorldAgent().parse("I would go to the desk.")
    assert p.actions == [] and p.text == "I would go to the desk."
    assert AlfWorldAgent().parse("Action: ").actions == []
    assert AlfWorldAgent().parse("Action: " + "x" * 400).actions == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_parse_never_raises(text):
    p = AlfWorldAgent().parse(text)
    assert len(p.actions) <= 1 and all("\n" not in a for a in p.actions)


@pytest.mark.parametrize(
    ("intent", "task_type"),
    [
        ("put a spraybottle in toilet.", "pick_and_place_simple"),
        ("put some peppershaker on drawer.", "pick_and_place_simple"),
        ("look at alarmclock under the desklamp.", "look_at_obj_in_light"),
        ("examine the book with the desklamp.", "look_at_obj_in_light"),
        ("put a clean mug in coffeemachine.", "pick_clean_then_place_in_recep"),
        ("clean some soapbar and put it in cabinet.", "pick_clean_then_place_in_recep"),
        ("put a hot mug in cabinet.", "pick_heat_then_place_in_recep"),
        ("heat some egg and put it in countertop.", "pick_heat_then_place_in_recep"),
        ("put a cool pan in stoveburner.", "pick_cool_then_place_in_recep"),
        ("cool some lettuce and put it in countertop.", "pick_cool_then_place_in_recep"),
        ("put two cd in safe.", "pick_two_obj_and_place"),
        ("find two pencil and put them in shelf.", "pick_two_obj_and_place"),
    ],
)
def test_infer_task_type_reads_alfworlds_goal_wordings(intent, task_type):
    assert infer_task_type(intent) == task_type


def test_prompt_uses_the_example_of_the_episodes_task_type():
    agent = AlfWorldAgent()
    examples = load_examples()
    for task_type in TASK_TYPES:
        msgs = agent.prompt(_ctx(task_type))
        assert msgs[2]["content"] == examples[task_type]["observation"]
        # Chat templates need strict alternation: user, assistant, user, ..., user.
        assert [m["role"] for m in msgs] == ["user", "assistant"] * (len(msgs) // 2) + ["user"]
        assert msgs[-1]["content"].endswith("Your task is to: put some spraybottle on toilet.")
        last_example_action = examples[task_type]["steps"][-1]["action"]
        assert msgs[-2]["content"].endswith(f"Action: {last_example_action}")
    # Without a recorded task type the goal's wording decides.
    msgs = agent.prompt(_ctx(None, "heat some egg and put it in countertop."))
    assert msgs[2]["content"] == examples["pick_heat_then_place_in_recep"]["observation"]


def test_prompt_shows_steps_so_far_reflections_and_a_history_window():
    steps = [
        Step(f"go to cabinet {i}", f"You arrive at cabinet {i}.", thought=f"try {i}")
        for i in range(1, 6)
    ]
    ctx = _ctx("pick_and_place_simple", steps=steps)
    ctx.reflections.append("STATUS: FAIL. New plan: look in the drawers.")
    msgs = AlfWorldAgent().prompt(ctx)
    assert msgs[-2:] == [
        {"role": "assistant", "content": "Thought: try 5\nAction: go to cabinet 5"},
        {"role": "user", "content": "Observation: You arrive at cabinet 5."},
    ]
    task_msg = msgs[-11]["content"]
    assert task_msg.startswith("REFLECTIONS FROM PREVIOUS ATTEMPTS") and "drawers" in task_msg
    windowed = AlfWorldAgent(max_history_steps=2).prompt(ctx)
    assert len(windowed) == len(msgs) - 6
    assert "(Your first 3 steps are not shown.)" in windowed[-5]["content"]
    assert windowed[-4]["content"] == "Thought: try 4\nAction: go to cabinet 4"
    with pytest.raises(ValueError, match="max_history_steps"):
        AlfWorldAgent(max_history_steps=0)


def test_examples_are_the_walkthroughs_of_the_shipped_train_games():
    examples = load_examples()
    assert set(examples) == set(TASK_TYPES)
    for task_type, ex in examples.items():
        traj = json.loads((SHIPPED / ex["game"] / "traj_data.json").read_text())
        assert ex["game"].startswith("json_2.1.1/train/") and traj["task_type"] == task_type
        assert [s["action"] for s in ex["steps"]] == traj["arm_exp"]["walkthrough"]
        assert all(s["thought"] and s["observation"] for s in ex["steps"])


# -- the shipped games (files only) ------------------------------------------------------------


def test_shipped_games_are_labelled_alfred_format_trials_three_per_task_type():
    trials = sorted(p.parent for p in SHIPPED.rglob("traj_data.json"))
    assert len(trials) == len(GAMES) == 18
    assert {SHIPPED / trial_path(g) for g in GAMES} == set(trials)
    for trial in trials:
        assert (trial / "initial_state.pddl").read_text().startswith(";; Hand-authored by arm-exp")
        traj = json.loads((trial / "traj_data.json").read_text())
        assert traj["arm_exp"]["hand_authored"] is True and traj["arm_exp"]["walkthrough"]
        assert trial.parent.name.startswith(traj["task_type"] + "-")
        assert set(traj["pddl_params"]) >= {"object_target", "parent_target", "toggle_target"}
    for split in ("train", "valid_seen", "valid_unseen"):
        types = sorted(g.task_type for g in GAMES if g.split == split)
        assert types == sorted(TASK_TYPES), split
    scenes = {s: {g.room.scene_num for g in GAMES if g.split == s} for s in ("train",)}
    seen = {g.room.scene_num for g in GAMES if g.split == "valid_seen"}
    unseen = {g.room.scene_num for g in GAMES if g.split == "valid_unseen"}
    assert seen <= scenes["train"] and not unseen & scenes["train"]


def test_splits_and_task_types_are_listed_without_the_engine():
    env = AlfWorldEnv(str(SHIPPED), build_games=True)
    for split in ("train", "seen", "unseen"):
        ids = env.task_ids(split)
        assert len(ids) == 6 and ids == sorted(ids)
        assert sorted(env.task_type(t) for t in ids) == sorted(TASK_TYPES)
    # Without build_games only trials with a game.tw-pddl (ALFWorld's data) count.
    assert AlfWorldEnv(str(SHIPPED)).task_ids("seen") == []
    with pytest.raises(UnknownSplitError, match="valid splits"):
        env.task_ids("valid_seen")
    with pytest.raises(UnknownTaskError):
        env.task_type("json_2.1.1/../../../etc")
    with pytest.raises(UnknownTaskError):
        env.reset("json_2.1.1/train/no-such-game")


def test_missing_data_dir_errors_name_the_config_key(tmp_path):
    with pytest.raises(AlfWorldDataError, match="paths.alfworld_data"):
        AlfWorldEnv(None).task_ids("unseen")
    with pytest.raises(AlfWorldDataError, match="no such directory"):
        AlfWorldEnv(str(tmp_path / "nope")).task_ids("unseen")
    with pytest.raises(AlfWorldDataError, match=r"json_2.1.1/valid_unseen/.*splits.unseen"):
        AlfWorldEnv(str(tmp_path)).task_ids("unseen")


def test_playing_without_the_extra_says_how_to_install_it(monkeypatch):
    # Whether or not alfworld is installed: make its import fail.
    for name in ("textworld", "textworld.envs", "alfworld", "alfworld.agents.environment"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    from arm_exp.envs import alfworld

    alfworld._logic.cache_clear()
    env = AlfWorldEnv(str(SHIPPED), build_games=True)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[alfworld\]'"):
        env.reset(env.task_ids("train")[0])
    alfworld._logic.cache_clear()
