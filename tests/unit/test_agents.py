import random
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arm_exp.agents.base import AgentContext
from arm_exp.agents.game24 import Game24Agent
from arm_exp.agents.policy import AlternatingPolicy, LLMPolicy, RandomPolicy
from arm_exp.envs.game24 import Game24Env, check_answer, load_puzzles
from arm_exp.llm.base import BaseLLM, Generation
from arm_exp.rollout import EpisodeJob, Rollouts
from arm_exp.types import Trajectory


def _ctx(env: Game24Env, task: str = "900", seed: int = 0) -> AgentContext:
    obs = env.reset(task)
    traj = Trajectory("x", "game24", task, env.intent(), obs)
    return AgentContext(env.intent(), traj, env.valid_actions, random.Random(seed))


def test_parse_extracts_steps_until_answer():
    text = (
        "Sure! Here are the steps:\n"
        "1. 4 + 5 = 9 (left: 6 9 10)\n"
        "**Step 2:** 9 - 6 = 3 (left: 3 10)\n"
        "- 3 * 10 = 30 (left: 30)\n"
        "Answer: (4 + 5 - 6) * 10 = 30\n"
        "Input: 1 2 3 4\n5 + 5 = 10\n"
    )
    p = Game24Agent().parse(text)
    assert p.actions == [
        "4 + 5 = 9 (left: 6 9 10)",
        "9 - 6 = 3 (left: 3 10)",
        "3 * 10 = 30 (left: 30)",
        "Answer: (4 + 5 - 6) * 10 = 30",
    ]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=2000))
def test_parse_never_raises(text):
    p = Game24Agent().parse(text)
    assert isinstance(p.actions, list) and len(p.actions) <= 8


def test_prompt_examples_are_correct_and_not_from_the_test_split():
    template = Game24Agent()._template.template
    examples = [
        line.split(":", 1)[1].strip()
        for line in template.splitlines()
        if line.startswith("Input: ") and "$" not in line
    ]
    answers = [line for line in template.splitlines() if line.startswith("Answer:")]
    assert len(examples) == len(answers) == 3
    test_puzzles = {tuple(sorted(load_puzzles()[i])) for i in range(900, 1000)}
    for nums, ans in zip(examples, answers, strict=False):
        assert check_answer(nums, ans)
        assert tuple(sorted(int(x) for x in nums.split())) not in test_puzzles


def test_prompt_shows_steps_so_far_and_reflections():
    env = Game24Env()
    ctx = _ctx(env)
    env.step("4 + 5 = 9 (left: 6 9 10)")
    ctx.trajectory.steps.append(
        type("S", (), {"action": "4 + 5 = 9 (left: 6 9 10)", "info": {}, "observation": ""})()
    )
    ctx.reflections.append("STATUS: FAIL. New plan: multiply first.")
    content = Game24Agent().prompt(ctx)[0]["content"]
    assert "Input: 4 5 6 10\nSteps:\n4 + 5 = 9 (left: 6 9 10)" in content
    assert "REFLECTIONS FROM PREVIOUS ATTEMPTS" in content and "multiply first" in content


def test_random_policy_is_deterministic_per_context_and_distinct():
    env = Game24Env()
    a = RandomPolicy().propose([_ctx(env, seed=1)], n=5)[0]
    b = RandomPolicy().propose([_ctx(env, seed=1)], n=5)[0]
    assert [p.actions for p in a] == [p.actions for p in b]
    assert len({p.actions[0] for p in a}) == 5


class _ScriptedLLM(BaseLLM):
    """Returns canned texts; records the calls it got."""

    def __init__(self, texts):
        super().__init__()
        self.texts = list(texts)
        self.calls = []

    def generate(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=128, stop=None, seed=None
    ):
        self.calls.append((len(prompts), n))
        gens = [
            Generation([self.texts[(i * n + k) % len(self.texts)] for k in range(n)])
            for i in range(len(prompts))
        ]
        self._record(gens, 0.0)
        return gens


def test_llm_policy_batches_identical_prompts_into_one_request():
    env = Game24Env()
    llm = _ScriptedLLM(["4 * 5 = 20 (left: 6 10 20)"])
    LLMPolicy(llm, Game24Agent()).propose([_ctx(env)] * 8, n=1)
    assert llm.calls == [(1, 8)]


def test_rollouts_retry_invalid_actions_and_finish_every_job():
    solution = "10 - 6 = 4 (left: 4 4 5)\n4 * 5 = 20 (left: 4 20)\n20 + 4 = 24 (left: 24)\nAnswer: (10 - 6) + 4 * 5 = 24"
    llm = _ScriptedLLM(["garbage", "4 + 4 = 8", solution])
    runner = Rollouts(
        partial(Game24Env, step_feedback=True),
        LLMPolicy(llm, Game24Agent()),
        num_envs=3,
        invalid_action_retries=3,
    )
    jobs = [EpisodeJob(f"900#{k}", "900", k) for k in range(5)]
    trajs = {t.id: t for t in runner.run(jobs)}
    assert set(trajs) == {j.id for j in jobs}
    assert runner.counters()["env_steps"] >= sum(len(t.steps) for t in trajs.values())
    solved = [t for t in trajs.values() if t.success]
    assert solved and all(t.steps[-1].action.startswith("Answer:") for t in solved)
    assert any(t.meta.get("rejected") for t in trajs.values())


def test_without_step_feedback_an_invalid_step_ends_the_episode_and_retries_never_apply():
    """ARMAP's rule (fidelity row 28): the first invalid step ends the episode with reward 0,
    so ``invalid_action_retries`` has nothing to re-propose."""
    llm = _ScriptedLLM(["garbage", "4 + 4 = 8"])
    runner = Rollouts(Game24Env, LLMPolicy(llm, Game24Agent()), invalid_action_retries=3)
    trajs = list(runner.run([EpisodeJob(f"900#{k}", "900", k) for k in range(4)]))
    assert len(trajs) == 4 and runner.counters()["rejected_actions"] == 0
    for t in trajs:
        assert len(t.steps) == 1 and t.steps[0].done and t.score == 0.0 and not t.success
        assert t.meta["stop_reason"] == "invalid_action" and "rejected" not in t.meta


def test_random_policy_excludes_patterns_but_never_stalls():
    env = Game24Env()
    picks = RandomPolicy(exclude=[r" \+ "]).propose([_ctx(env)], n=30)[0]
    assert all(" + " not in p.actions[0] for p in picks)
    everything = RandomPolicy(exclude=[".*"]).propose([_ctx(env)], n=3)[0]
    assert all(p.actions for p in everything)


class _Tagged(RandomPolicy):
    """A random policy that remembers which trajectories it proposed for."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def propose(self, contexts, n=1, temperature=None):
        self.seen += [c.trajectory.id for c in contexts]
        return super().propose(contexts, n, temperature)


def test_alternating_explorers_take_turns_by_run_as_armaps_two_policies():
    """ARMAP's WebShop data pairs a 70B run with an 8B run on each goal (fidelity row 10): run
    k of a task is explorer k % 2's, so runs 2i and 2i + 1 are one of each."""
    first, second = _Tagged(), _Tagged()
    pair = AlternatingPolicy([first, second])
    runner = Rollouts(Game24Env, pair, num_envs=4)
    jobs = [EpisodeJob(f"{t}#{k}", t, k) for t in ("900", "901") for k in range(4)]
    trajs = {t.id: t for t in runner.run(jobs)}
    for tid, t in trajs.items():
        k = int(tid.split("#")[1])
        assert t.meta["explorer"] == k % 2
        assert tid in (first.seen if k % 2 == 0 else second.seen)
    assert not set(first.seen) & set(second.seen)
    counts = pair.counters()
    assert (
        counts["policy_calls"]
        == counts["explorer0/policy_calls"] + counts["explorer1/policy_calls"]
    )
    with pytest.raises(ValueError, match="explorer=llm_pair"):
        pair.propose([_ctx(Game24Env())])  # an id that is not <task>#<k>
    with pytest.raises(ValueError, match="at least 2"):
        AlternatingPolicy([first])
