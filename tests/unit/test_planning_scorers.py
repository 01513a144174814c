"""The oracle and the policy-as-judge scorers: their scores, thresholds, units and costs."""

from __future__ import annotations

import json
import time

import pytest

from arm_exp.llm.base import Generation
from arm_exp.planning.scorers import OracleScorer, PolicyJudgeScorer
from arm_exp.rollout import derive_seed
from arm_exp.tally import scope
from arm_exp.types import Step, Trajectory


def _traj(score: float, success: bool, action: str = "go") -> Trajectory:
    steps = [Step(action, "moved", thought="why not"), Step("stop", "the end", done=True)]
    return Trajectory("t", "b", "0", "do it", "start", steps, score=score, success=success)


def test_oracle_scores_are_the_env_scores_and_cost_one_call():
    oracle = OracleScorer(success_score=0.75)
    trajs = [_traj(0.25, False), _traj(1.0, True), _traj(0.0, False)]
    with scope() as tally:
        assert oracle.score(["x"] * 3, trajs) == [0.25, 1.0, 0.0]
        assert oracle.score(["x"], trajs[:1]) == [0.25]
    assert tally.counts() == {"oracle_calls": 2.0, "oracle_items": 4.0}
    assert oracle.counters() == {"oracle_calls": 2.0, "oracle_items": 4.0}
    assert oracle.threshold(0.1) == 0.75 and oracle.threshold(0.9, "positive") == 0.75
    assert OracleScorer().threshold(0.5) == 1.0
    assert oracle.unit([0.3, 1]) == [0.3, 1.0] and all(type(u) is float for u in oracle.unit([1]))


class VotingLLM:
    """Answers each judge prompt with scripted samples; records every call (the LLM protocol)."""

    def __init__(self, answers: list[list[str]], tokens: int = 3) -> None:
        self.answers = answers
        self.tokens = tokens
        self.calls: list[dict] = []

    def generate(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=128, stop=None, seed=None
    ):
        self.calls.append(
            {"prompts": prompts, "n": n, "temperature": temperature, "max_tokens": max_tokens,
             "seed": seed}
        )  # fmt: skip
        return [
            Generation(list(self.answers[i][:n]), 10 + i, [self.tokens] * n)
            for i in range(len(prompts))
        ]

    def counters(self) -> dict[str, float]:
        return {"llm_calls": 99.0, "http_requests": 7.0, "http_retries": 1.0}

    def close(self) -> None:
        pass


def test_judge_score_is_the_share_of_yes_answers():
    llm = VotingLLM(
        [
            ["Yes.", "no", "YES, it did"],  # 2 of 3
            ["No", "Nope", "yesterday it failed"],  # "Nope", "yesterday": no word "yes"/"no"
            ["I think... yes", "Yes", "yes"],  # 3 of 3
        ]
    )
    judge = PolicyJudgeScorer(llm, samples=3, temperature=0.6, max_tokens=5, seed=4)
    trajs = [_traj(0.0, False), _traj(0.0, False, "wait"), _traj(1.0, True, "run")]
    started = time.perf_counter()
    with scope() as tally:
        scores = judge.score(["a", "b", "c"], trajs)
    took = time.perf_counter() - started
    assert scores == pytest.approx([2 / 3, 0.0, 1.0])
    call = llm.calls[0]
    assert (call["n"], call["temperature"], call["max_tokens"]) == (3, 0.6, 5)
    prompts = [judge.prompt(i, t) for i, t in zip("abc", trajs, strict=True)]
    assert call["prompts"] == prompts
    assert call["seed"] == derive_seed(4, json.dumps(prompts, sort_keys=True))
    # the unparsed answers ("Nope", "yesterday it failed") count as "no" and are counted
    own = {
        "judge_calls": 1.0,
        "judge_items": 3.0,
        "judge_unparsed": 2.0,
        "judge_llm_calls": 1.0,
        "judge_llm_prompts": 3.0,
        "judge_llm_samples": 9.0,
        "judge_prompt_tokens": 33.0,
        "judge_completion_tokens": 27.0,
    }
    counts = tally.counts()
    assert {k: counts[k] for k in own} == own and 0 <= counts["judge_llm_time_s"] <= took
    counters = judge.counters()
    assert {k: counters[k] for k in own} == own
    # the backend's own counters are passed on under the judge's prefix, its usage is not
    assert counters["judge_http_requests"] == 7.0 and counters["judge_http_retries"] == 1.0
    judge.score(["a"], trajs[:1])
    assert judge.counters()["judge_calls"] == 2.0 and judge.counters()["judge_items"] == 4.0
    assert judge.counters()["judge_unparsed"] == 2.0
    with pytest.raises(ValueError):  # an intent per trajectory, or it is a caller's bug
        judge.score(["a"], trajs[:2])


def test_judge_defaults():
    judge = PolicyJudgeScorer(VotingLLM([]))
    assert (judge.samples, judge.temperature, judge.max_tokens, judge.seed) == (3, 0.7, 8, 0)
    assert (judge.renderer.observations, judge.renderer.thoughts) == (True, True)


def test_judge_reads_only_the_opening_of_an_answer():
    runaway = "x" * 499 + " yes"  # the verdict starts at character 500: not read
    early = "x" * 490 + " yes"
    llm = VotingLLM([[runaway], [early]])
    judge = PolicyJudgeScorer(llm, samples=1)
    assert judge.score(["a", "b"], [_traj(0, False), _traj(0, False)]) == [0.0, 1.0]
    assert judge.counters()["judge_unparsed"] == 1.0


def test_judge_with_one_sample_is_greedy_and_its_bar_is_a_majority():
    llm = VotingLLM([["yes"]])
    judge = PolicyJudgeScorer(llm, samples=1, temperature=0.9)
    judge.score(["a"], [_traj(0, False)])
    assert llm.calls[0]["temperature"] == 0.0 and llm.calls[0]["n"] == 1
    assert PolicyJudgeScorer(llm, samples=2, temperature=0.9).temperature == 0.9
    assert judge.threshold(0.9) == 0.5 and judge.threshold(0.1, "positive") == 0.5
    assert judge.unit([1, 0.5]) == [1.0, 0.5] and all(type(u) is float for u in judge.unit([1]))


def test_judge_prompt_renders_like_the_reward_model():
    traj = _traj(0.0, False)
    with_all = PolicyJudgeScorer(VotingLLM([]))
    plain = PolicyJudgeScorer(VotingLLM([]), observations=False, thoughts=False)
    system, user = with_all.prompt("do it", traj)
    assert system == {
        "role": "system",
        "content": "You judge whether an agent accomplished a task.",
    }
    assert user["role"] == "user" and user["content"].endswith("\nReply with Yes or No.")
    assert "Thought: why not" in user["content"] and "Observation: moved" in user["content"]
    text = plain.prompt("do it", traj)[1]["content"]
    assert "Thought:" not in text and "Observation: moved" not in text
    assert "Agent: go" in text and text.startswith("User: do it\nstart\n")
