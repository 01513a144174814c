"""No prompt built from a finished trajectory shows the environment's verdict.

ARMAP-R learns that an attempt failed from the reward model; its reflection prompt, the reward
model's input, the policy-as-judge prompt and the synthesis prompts never hold the env's own
answer (Game of 24's "Wrong answer ...", WebShop's score page). Real envs, real failed attempts.
"""

from __future__ import annotations

import json

import pytest

from arm_exp.agents.base import reflection_prompt
from arm_exp.agents.game24 import Game24Agent
from arm_exp.agents.webshop import WebShopAgent
from arm_exp.envs.game24 import Game24Env
from arm_exp.planning.scorers import PolicyJudgeScorer
from arm_exp.reward.render import Renderer
from arm_exp.synthesis.ranked import ScoreRankedKit
from arm_exp.types import Step, Trajectory, shown_observations


def _play(env, task_id: str, actions: list[str]) -> Trajectory:
    obs = env.reset(task_id)
    traj = Trajectory("t", env.benchmark, task_id, env.intent(), obs)
    for a in actions:
        o, r, done, info = env.step(a)
        traj.steps.append(Step(a, o, r, done, info={k: v for k, v in info.items()}))
        traj.score, traj.success = float(info["score"]), bool(info["success"])
        if done:
            break
    return traj


def _text(prompt) -> str:
    return json.dumps(prompt)


def _failed_game24() -> Trajectory:
    # puzzle 900: 4 5 6 10; a wrong (but well-formed) solution
    traj = _play(
        Game24Env(),
        "900",
        [
            "4 + 5 = 9 (left: 6 9 10)",
            "9 + 6 = 15 (left: 10 15)",
            "10 + 15 = 25 (left: 25)",
            "Answer: (4 + 5 + 6) + 10 = 25",
        ],
    )
    assert traj.done and not traj.success and len(traj.steps) == 4
    assert not any(s.info.get("invalid") for s in traj.steps)
    assert "Wrong answer" in traj.steps[-1].observation  # the verdict exists: it must not leak
    return traj


def _failed_webshop(tmp_path) -> Trajectory:
    pytest.importorskip("bm25s")
    pytest.importorskip("rapidfuzz")
    from arm_exp.envs.webshop import WebShopEnv

    env = WebShopEnv(cache_dir=str(tmp_path / "cache"), reveal_score=True)
    env.reset("0")
    # buy the first search result without choosing options: a partial score, below 1
    first = env.step(f"search[{env.intent()}]")[0].split(" [SEP] ")
    asin = next(t for t in first if t.startswith("B0"))
    traj = _play(env, "0", [f"search[{env.intent()}]", f"click[{asin.lower()}]", "click[buy now]"])
    assert traj.done and not traj.success and 0 < traj.score < 1
    assert "Your score" in traj.steps[-1].observation
    return traj


def _verdicts(traj: Trajectory) -> list[str]:
    last = traj.steps[-1].observation
    return [last, "Wrong answer", "not 24", "Your score", "Correct:", f"{traj.score}"]


def _assert_clean(prompt_text: str, traj: Trajectory) -> None:
    for v in _verdicts(traj):
        if traj.benchmark.startswith("game24") and v == f"{traj.score}":
            continue  # Game of 24's score 0.0 is no text of its own
        assert v not in prompt_text, (v, prompt_text)


def test_shown_observations_blanks_only_the_terminal_one():
    traj = _failed_game24()
    shown = shown_observations(traj)
    assert shown[-1] == "" and shown[:-1] == [s.observation for s in traj.steps[:-1]]
    cut = Trajectory("c", "x", "0", "i", "o", [Step("a", "o1"), Step("b", "o2")])  # max_steps
    assert shown_observations(cut) == ["o1", ""]


def test_reflection_prompt_of_a_failed_game24_attempt_holds_no_verdict():
    traj = _failed_game24()
    text = _text(reflection_prompt(traj.intent, traj))
    _assert_clean(text, traj)
    assert (
        "Answer: (4 + 5 + 6) + 10 = 25" in text and "Remaining numbers: 10 15" in text
    )  # the attempt itself is shown
    assert not hasattr(Game24Agent(), "reflection_prompt")  # the shared prompt is the one used


def test_reflection_prompt_of_a_failed_webshop_attempt_holds_no_verdict_or_score(tmp_path):
    traj = _failed_webshop(tmp_path)
    text = _text(reflection_prompt(traj.intent, traj))
    _assert_clean(text, traj)
    assert "click[buy now]" in text and traj.steps[1].observation[:80] in text
    assert not hasattr(WebShopAgent(), "reflection_prompt")


def test_judge_renderer_and_synthesis_prompts_hold_no_verdict(tmp_path):
    for traj in (_failed_game24(), _failed_webshop(tmp_path)):
        head, tail = Renderer().render(traj.intent, traj)
        _assert_clean(head + tail, traj)
        judge = PolicyJudgeScorer(llm=None)  # type: ignore[arg-type]  # prompt only
        _assert_clean(_text(judge.prompt(traj.intent, traj)), traj)
        kit = ScoreRankedKit("webshop")
        _assert_clean(_text(kit.intent_prompt(traj)), traj)
        _assert_clean(_text(kit.negative_prompt(traj, "llm")), traj)
