"""The WebShop agent: prompt turns in the literature's format, and a parser that never raises."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arm_exp.agents.base import AgentContext
from arm_exp.agents.webshop import OMITTED, WebShopAgent, available_actions
from arm_exp.envs.webshop import WebShopEnv
from arm_exp.types import Step, Trajectory

pytest.importorskip("bm25s")


@pytest.mark.parametrize(
    ("text", "action", "thought"),
    [
        (
            "Thought: I should search.\nAction: search[blue wool socks]",
            "search[blue wool socks]",
            "I should search.",
        ),
        (
            "Thought:\nI think B0X is right.\n\nAction:\nclick[B0X]",
            "click[B0X]",
            "I think B0X is right.",
        ),
        ("**Action:** `click[Buy Now]`", "click[Buy Now]", ""),
        ("I will click[ 3 ounce (pack of 1) ] now", "click[3 ounce (pack of 1)]", "I will"),
        ("Action: click[< Prev]\nObservation: ...", "click[< Prev]", ""),
        (
            "Thought: search[wrong] is not it.\nAction: click[next >]",
            "click[next >]",
            "search[wrong] is not it.",
        ),
        ("Action 1: SEARCH[Gluten Free Crackers]", "search[Gluten Free Crackers]", ""),
        ("think: hmm", None, "hmm"),
        ("", None, ""),
    ],
)
def test_parse_finds_the_action_and_thought(text, action, thought):
    p = WebShopAgent().parse(text)
    assert p.actions == ([action] if action else []) and p.thought == thought and p.text == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_parse_never_raises(text):
    p = WebShopAgent().parse(text)
    assert len(p.actions) <= 1 and all(a.startswith(("search[", "click[")) for a in p.actions)


def test_available_actions_in_webshops_shape():
    assert available_actions(["search[a]", "search[b]"]) == {
        "has_search_bar": True,
        "clickables": ["search"],
    }
    assert available_actions(["click[back to search]", "click[b0x]"]) == {
        "has_search_bar": False,
        "clickables": ["back to search", "b0x"],
    }


def _ctx(env: WebShopEnv, steps: list[str]) -> AgentContext:
    obs = env.reset("0")
    traj = Trajectory("0#0", env.benchmark, "0", env.intent(), obs)
    for i, a in enumerate(steps):
        o, r, d, info = env.step(a)
        traj.steps.append(Step(a, o, r, d, thought=f"t{i}" if i % 2 == 0 else "", info=info))
    return AgentContext(
        env.intent(), traj, env.valid_actions, random.Random(0), reflections=["STATUS: FAIL"]
    )


def test_prompt_is_a_chat_of_observations_and_actions(tmp_path):
    env = WebShopEnv(cache_dir=str(tmp_path))
    ctx = _ctx(env, ["search[bedspread set lightweight]", "click[next >]"])
    msgs = WebShopAgent(max_history=None).prompt(ctx)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert (
        "Thought: <your reasoning>" in msgs[0]["content"]
        and "REFLECTIONS FROM PREVIOUS ATTEMPTS" in msgs[0]["content"]
    )
    assert msgs[0]["content"].endswith(f"Observation:\n{ctx.trajectory.initial_observation}")
    assert msgs[1]["content"] == "Thought: t0\nAction: search[bedspread set lightweight]"
    assert msgs[3]["content"] == "Action: click[next >]"
    last = msgs[4]["content"]
    assert last.startswith(
        f"Observation:\n{ctx.trajectory.steps[-1].observation}\nAvailable Actions: "
    )
    assert '"has_search_bar": false, "clickables": ["back to search", "< prev", "next >", ' in last
    short = WebShopAgent(max_history=1).prompt(ctx)
    assert (
        short[0]["content"].endswith(f"Observation:\n{OMITTED}")
        and short[2]["content"] == f"Observation:\n{OMITTED}"
    )
    assert ctx.trajectory.steps[-1].observation in short[4]["content"]
