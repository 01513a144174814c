"""ScienceWorld on the real engine (needs Java and the `scienceworld` package)."""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import time
from dataclasses import replace
from importlib.util import find_spec

import pytest

from arm_exp.agents.policy import LLMPolicy, RandomPolicy
from arm_exp.agents.scienceworld import ScienceWorldAgent, load_example
from arm_exp.envs.scienceworld import ScienceWorldEnv
from arm_exp.llm.base import BaseLLM, Generation
from arm_exp.rollout import EpisodeJob, Rollouts
from arm_exp.stages import explore
from arm_exp.synthesis.hindsight import Goal
from arm_exp.synthesis.rule import RuleSynthesizer
from arm_exp.synthesis.scienceworld import ScienceWorldKit, goal_holds, goal_of
from arm_exp.types import Step, Trajectory
from tests.conftest import have_java
from tests.integration.test_benchmark_pipelines import run_pipeline

pytestmark = [
    pytest.mark.java,
    pytest.mark.skipif(
        not have_java() or find_spec("scienceworld") is None,
        reason="needs Java and the scienceworld package (make install)",
    ),
]


@pytest.fixture(scope="module")
def env():
    """One engine for the module's tests (step limits off, so gold paths run to the end; rejected
    and repeated actions do not end an episode, so the tests can probe them one after another)."""
    e = ScienceWorldEnv(max_steps=1000, end_on_no_known_action=False, end_on_repeats=None)
    yield e
    e.close()


def _play_gold(env: ScienceWorldEnv, task_id: str) -> tuple[dict, int]:
    _, gold = env.reset_with_gold(task_id)
    assert gold, f"{task_id}: the engine gave no gold path"
    info: dict = {}
    for n, action in enumerate(gold, 1):
        _, _, done, info = env.step(action)
        if done:
            return info, n
    return info, len(gold)


def test_gold_paths_score_100_for_every_task_type(env):
    # Variation 0 of each type: the engine's gold path for some variations falls short on the
    # engine's own API too (freeze/19 ends at 82); the slow test compares against that API.
    started = time.perf_counter()
    names = env.engine_task_names()
    assert len(names) == 30
    failed = {}
    for name in names:
        info, _ = _play_gold(env, f"{name}/0")
        if not (info["score"] == 1.0 and info["success"] and info["engine_score"] == 100):
            failed[name] = info
    assert not failed
    assert env.counters()["valid_actions_calls"] == 0  # never computed unless asked
    print(f"gold paths of 30 task types: {time.perf_counter() - started:.1f} s")


def test_rejected_actions_come_back_as_observations(env):
    obs0 = env.reset("find-animal/218")
    assert obs0.startswith("This ") and env.intent().startswith("Your task is")
    # This task credits the start state (score 8); the first step's reward pays it out.
    obs, reward, _, info = env.step("look around")
    assert obs == obs0 and reward == info["score"] == 0.08 and not info["invalid"]
    before = env.snapshot()
    for action in ["", "   ", "fly to the moon", "pick up unicorn", "focus on", "open", "x" * 1000]:
        obs, reward, done, info = env.step(action)
        assert isinstance(obs, str) and obs, action
        assert info["invalid"] and not done and reward == 0.0 and info["score"] == 0.08
    obs, _, done, info = env.step(None)  # type: ignore[arg-type]
    assert info["invalid"] and not done
    after = env.snapshot()
    assert after.replay == before.replay and after.n_steps == before.n_steps + 8
    # The engine asks which object was meant; a number answers it.
    env.step("teleport to kitchen")
    obs, _, done, info = env.step("pick up substance")
    assert info.get("ambiguous") and not info["invalid"] and "0:" in obs
    assert env.valid_actions()[:2] == ["0", "1"]
    # The engine's order of the choices varies between loads: answer with the one naming air.
    air = next(
        line.split(":", 1)[0].strip()
        for line in obs.splitlines()
        if ":" in line and "air" in line.split(":", 1)[1]
    )
    obs, _, done, info = env.step(air)
    assert not info["invalid"] and not info.get("ambiguous") and "gas" in obs
    # Case and spacing do not matter; the engine's own answer comes back.
    obs, _, _, info = env.step("  TELEPORT   to  Bathroom ")
    assert obs == "You teleport to the bathroom." and not info["invalid"]


def test_step_limit_and_focus_failure():
    e = ScienceWorldEnv(end_on_repeats=None, score="final")
    try:
        e.reset("lifespan-longest-lived/2")  # ETO limit: 10 steps
        infos = [e.step("look around")[3] for _ in range(10)]
        assert infos[-1]["truncated"] and e.step("look around")[2]
        assert [i.get("truncated", False) for i in infos] == [False] * 9 + [True]
        e.reset("lifespan-longest-lived/2")
        e.step("teleport to outside")
        wrong = next(a for a in e.valid_actions() if a.startswith("focus on") and "egg" not in a)
        obs, reward, done, info = e.step(wrong)
        assert done and info["engine_score"] == -100 and info["score"] == 0.0
        assert not info["success"] and reward <= 0
        assert info["max_score"] > 0  # the credit reached before the failure (the ARMAP score)
    finally:
        e.close()


def test_armap_episode_ends_and_running_max_score():
    """ARMAP/ETO (Eval/sciworld/main.py:71-81, envs/sciworld_env.py:103-104): an episode ends on
    "No known action" and on 4 identical observations after more than 4 steps; the score is the
    running max (a later -100 failure does not take back what was reached)."""
    e = ScienceWorldEnv()
    try:
        e.reset("find-animal/218")
        obs, _, done, info = e.step("fly to the moon")
        assert obs.startswith("No known action") and done and info["invalid"]
        assert info["stop_reason"] == "no_known_action"
        e.reset("find-animal/218")
        dones = [e.step("look around")[2] for _ in range(5)]
        assert dones == [False] * 4 + [True]  # 5 steps, the last 4 observations identical
        e.reset("find-animal/218")
        _, _, _, info = e.step("look around")  # this task credits the start state: 8
        assert info["score"] == info["max_score"] == info["final_score"] == 0.08
        reached = e.step("teleport to outside")[3]["score"]
        assert reached >= 0.08
        wrong = next(a for a in e.valid_actions() if a.startswith("focus on") and "air" in a)
        _, reward, done, info = e.step(wrong)
        assert done and info["engine_score"] == -100 and not info["success"]
        assert info["score"] == info["max_score"] == reached and info["final_score"] == 0.0
        assert reward == 0.0  # the running max did not move
        snap = e.snapshot()
        e.reset("find-animal/218")
        e.restore(snap)  # the max and the recent observations are part of the state
        assert e.snapshot() == snap
    finally:
        e.close()
    final = ScienceWorldEnv(score="final", end_on_no_known_action=False)
    try:
        final.reset("find-animal/218")
        final.step("look around")
        _, _, done, info = final.step("fly to the moon")
        assert not done and info["score"] == 0.08
        reached = final.step("teleport to outside")[3]["score"]
        wrong = next(a for a in final.valid_actions() if a.startswith("focus on") and "air" in a)
        _, reward, _, info = final.step(wrong)
        assert info["score"] == info["final_score"] == 0.0 and reward == pytest.approx(-reached)
        assert info["max_score"] == reached
    finally:
        final.close()


def test_snapshot_restore_by_replay(env):
    _, gold = env.reset_with_gold("boil/21")
    first = [env.step(a)[0] for a in gold[:5]]
    snap = env.snapshot()
    follow = [env.step(a)[0] for a in gold[5:10]]
    later = env.snapshot()
    c0 = env.counters()
    env.restore(snap)  # backwards: reload + replay 5
    assert env.snapshot() == snap
    again = [env.step(a)[0] for a in gold[5:10]]
    assert [sorted(o.split()) for o in again] == [sorted(o.split()) for o in follow]
    env.restore(snap)
    env.restore(later)  # forwards from snap: replay 5 more, no reload
    assert env.snapshot() == later
    env.step("fly")  # invalid: the engine state is untouched, so restoring is free
    env.restore(later)
    c1 = env.counters()
    assert c1["restores"] - c0["restores"] == 4
    assert c1["restore_reloads"] - c0["restore_reloads"] == 2
    assert c1["replayed_steps"] - c0["replayed_steps"] == 5 + 5 + 5
    assert c1["restore_mismatches"] == c0["restore_mismatches"]
    assert first and env.step(gold[10])[3]["invalid"] is False


def test_restore_renumbers_ambiguity_answers(env):
    env.reset("boil/21")
    start = env.snapshot()
    env.step("teleport to kitchen")
    question = env.step("pick up substance")[0]
    soap = next(x.split(":")[0] for x in question.splitlines() if "soap" in x)
    env.step(soap)
    picked = env.snapshot()
    mismatches = env.counters()["restore_mismatches"]
    for _ in range(4):  # each reload numbers the options anew
        env.restore(start)
        env.restore(picked)
        assert "soap" in env.step("inventory")[0]
        env.restore(picked)
    assert env.counters()["restore_mismatches"] == mismatches


def test_example_replays_in_the_engine(env):
    ex = load_example()
    env.reset(ex["task_id"])
    turns = ex["turns"]
    assert turns[0]["content"] == env.intent()
    info: dict = {}
    for a, o in zip(turns[1::2], turns[2::2], strict=True):
        action = a["content"].split("Action: ", 1)[1]
        obs, _, _, info = env.step(action)
        # Equal up to word order: the engine lists a room's objects in no fixed order.
        assert sorted(o["content"].split()) == sorted(f"Observation: {obs}".split())
    assert info["success"]


def _wait_dead(pid: int, timeout: float = 10.0) -> None:
    """Until the process is gone or a zombie (its parent may reap it at any time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} still running {timeout} s after SIGKILL")


class _KillingPolicy(RandomPolicy):
    """Random, but kills the engine's JVM (SIGKILL) before its third proposal."""

    def __init__(self, runner_ref: list[Rollouts]) -> None:
        super().__init__(exclude=["^focus on "])
        self.runner_ref = runner_ref
        self.calls = 0

    def propose(self, contexts, n=1, temperature=None):
        self.calls += 1
        if self.calls == 3:
            pid = self.runner_ref[0].envs[0].jvm_pid  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
            _wait_dead(pid)
        return super().propose(contexts, n, temperature)


def test_killed_jvm_is_restarted_and_the_next_episode_runs():
    ref: list[Rollouts] = []
    # the episodes run to max_steps (ARMAP's endings off: this test is about the JVM)
    make_env = functools.partial(ScienceWorldEnv, end_on_no_known_action=False, end_on_repeats=None)
    runner = Rollouts(make_env, _KillingPolicy(ref), num_envs=1, max_steps=8)
    ref.append(runner)
    try:
        jobs = [EpisodeJob("a", "find-animal/218", 1), EpisodeJob("b", "find-plant/179", 2)]
        first, second = list(runner.run(jobs))
        counters = runner.counters()
    finally:
        runner.close()
    assert first.meta["stop_reason"] == "error" and "engine failure" in first.meta["error"]
    assert not first.success and first.score == 0.0 and len(first.steps) == 3
    assert second.meta["stop_reason"] == "max_steps" and len(second.steps) == 8
    assert not any(s.info.get("error") for s in second.steps)
    assert counters["jvm_crashes"] == 1 and counters["jvm_starts"] == 2


class _ScriptedLLM(BaseLLM):
    def __init__(self, texts: list[str]) -> None:
        super().__init__()
        self.texts = texts
        self.prompts: list = []

    def generate(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=128, stop=None, seed=None
    ):
        self.prompts.extend(prompts)
        gens = [Generation([self.texts[len(self.prompts) % len(self.texts)]] * n) for _ in prompts]
        self._record(gens, 0.0)
        return gens


def test_react_thoughts_land_in_steps_and_valid_actions_are_never_computed():
    llm = _ScriptedLLM(["Thought: I should see where I am.\n**Action:** Look around."])
    runner = Rollouts(
        lambda: ScienceWorldEnv(max_steps=3), LLMPolicy(llm, ScienceWorldAgent()), num_envs=1
    )
    try:
        (traj,) = runner.run([EpisodeJob("a", "find-animal/218", 0)])
        counters = runner.counters()
    finally:
        runner.close()
    assert [s.action for s in traj.steps] == ["look around"] * 3
    assert [s.thought for s in traj.steps] == ["I should see where I am."] * 3
    assert traj.meta["task_type"] == "find-animal" and traj.meta["variation"] == 218
    assert counters["valid_actions_calls"] == 0 and counters["jvm_starts"] == 1
    last = llm.prompts[-1]
    assert last[-2]["content"] == "Thought: I should see where I am.\nAction: look around"


def _read(path) -> list[Trajectory]:
    return [Trajectory.from_dict(json.loads(x)) for x in path.read_text().splitlines()]


def test_explore_random_on_three_seen_variations(make_cfg, tmp_path):
    cfg = make_cfg(
        "explore",
        [
            "benchmark=scienceworld",
            "explorer=random",
            "split=seen",
            "limit=3",
            "explore.num_per_task=1",
            "benchmark.num_envs=1",
        ],
        tmp_path / "sw",
    )
    metrics = explore.run(cfg)
    trajs = _read(tmp_path / "sw" / "trajectories.jsonl")
    env = ScienceWorldEnv()
    assert [t.task_id for t in trajs] == env.task_ids("seen")[:3]
    for t in trajs:
        assert 0.0 <= t.score <= 1.0 and t.success == (t.score == 1.0)
        assert t.meta["task_type"] == env.task_type(t.task_id)
        assert t.meta["variation"] == int(t.task_id.split("/")[1])
        assert t.intent.startswith("Your task is") and t.steps
        assert len(t.steps) <= env.step_limit(t.task_id)
        assert not any(s.action.startswith("focus on") for s in t.steps)
        assert abs(sum(s.reward for s in t.steps) - t.score) < 1e-9
    assert metrics["explore/seen/n_trajectories"] == 3
    assert metrics["explore/seen/jvm_starts"] == 1  # one JVM, reused through `load`
    assert metrics["explore/seen/valid_actions_calls"] > 0
    assert any(k.startswith("explore/seen/by_type/") for k in metrics)


def test_llm_explorer_with_embedded_model(make_cfg, tmp_path, smollm2):
    cfg = make_cfg(
        "explore",
        [
            "benchmark=scienceworld",
            "explorer=llm",
            "split=seen",
            "task_ids=[find-animal/218]",
            "explore.num_per_task=1",
            "benchmark.num_envs=1",
            "benchmark.env.max_steps=2",
            "benchmark.env.end_on_no_known_action=false",  # the tiny model's text runs 2 steps
            "benchmark.agent.max_tokens=24",
        ],
        tmp_path / "llm",
    )
    metrics = explore.run(cfg)
    (traj,) = _read(tmp_path / "llm" / "trajectories.jsonl")
    assert traj.id == "find-animal/218#0" and len(traj.steps) == 2 and traj.steps[-1].done
    assert all(s.observation for s in traj.steps)
    assert metrics["explore/seen/llm_calls"] >= 2 and metrics["explore/seen/completion_tokens"] > 0
    assert metrics["explore/seen/valid_actions_calls"] == 0


@pytest.mark.slow
def test_gold_paths_of_100_random_seen_variations_match_the_engine_api(env):
    """Our env scores each gold path as ScienceWorld's own Python API does. Some tasks are
    stochastic (grow-fruit's pollination): where the two differ, each gets two more tries and
    their best scores must agree."""
    from scienceworld import ScienceWorldEnv as Reference

    ref = Reference("", envStepLimit=10**6)

    def theirs(task_id: str) -> int:
        name, variation = task_id.split("/")
        ref.load(name, int(variation), "easy", generateGoldPath=True)
        gold = ref.get_gold_action_sequence()
        ref.reset()
        info: dict = {}
        for action in gold:
            _, _, done, info = ref.step(action)
            if done:
                break
        return int(info["score"])

    def ours(task_id: str) -> int:
        return int(_play_gold(env, task_id)[0]["engine_score"])

    try:
        tasks = random.Random(0).sample(env.task_ids("seen"), 100)
        scores = {t: (ours(t), theirs(t)) for t in tasks}
        for t, (a, b) in scores.items():
            if a != b:
                scores[t] = (max(a, ours(t), ours(t)), max(b, theirs(t), theirs(t)))
    finally:
        ref.close()
    assert {t: a for t, (a, _) in scores.items()} == {t: b for t, (_, b) in scores.items()}
    print(f"gold paths reaching 100: {sum(a == 100 for a, _ in scores.values())} of 100")


# -- rule hindsight (issue 26) --------------------------------------------------------------------


def _play(env: ScienceWorldEnv, task_id: str, actions: list[str], run: int) -> Trajectory:
    """A trajectory of ``actions`` recorded from the engine, as the explorer writes one."""
    first = env.reset(task_id)
    steps = []
    for action in actions:
        obs, reward, done, info = env.step(action)
        assert not info["invalid"], (action, obs)
        steps.append(Step(action, obs, reward, done, "", info))
    return Trajectory(f"{task_id}#{run}", env.benchmark, task_id, env.intent(), first, steps,
                      steps[-1].info["score"], steps[-1].info["success"])  # fmt: skip


def _replayed(env: ScienceWorldEnv, t: Trajectory, then: str) -> str:
    """The engine's answer to ``then`` after replaying ``t``'s actions."""
    env.reset(t.task_id)
    for s in t.steps:
        env.step(s.action)
    return env.step(then)[0]


def test_rule_hindsight_names_the_last_change_the_engine_reported(env):
    # teleport (kitchen), open (fridge), move (banana -> sink), then steps that change nothing
    actions = ["teleport to kitchen", "open fridge", "move banana to sink", "look at sink",
               "inventory"]  # fmt: skip
    other = ["teleport to kitchen", "open fridge", "move banana to table"]
    source, natural = _play(env, "boil/0", actions, 0), _play(env, "boil/0", other, 1)
    kit = ScienceWorldKit(env)
    synth = RuleSynthesizer(kit, negatives_per_positive=2, natural_negatives=1, seed=0)
    synth.prepare([source, natural])
    (res,) = synth.synthesize([source])
    positive = res.triplets[0].positive
    assert positive.intent == "Your task is to move the banana to the sink."
    assert positive.meta["goal"] == {"kind": "in", "args": ["banana", "sink"],
                                     "text": positive.intent}  # fmt: skip
    assert positive.actions == actions[:3] and positive.steps[-1].done and positive.success
    goal = Goal.from_dict(positive.meta["goal"])
    # the world's state: the object tree after replay, and what the engine shows of the sink
    env.reset("boil/0")
    assert not goal_holds(goal, env.facts())
    in_kitchen = replace(positive, steps=positive.steps[:1])
    assert "banana" not in _replayed(env, in_kitchen, "look at sink")
    assert "banana" in _replayed(env, positive, "look at sink")
    assert goal_holds(goal, env.facts())
    kinds = {t.meta["negative_kind"] for t in res.triplets}
    assert kinds == {"natural", "truncated"}
    for t in res.triplets:
        assert t.intent == positive.intent and t.positive == positive
        assert "banana" not in _replayed(env, t.negative, "look at sink")
        if t.meta["negative_kind"] == "natural":
            assert t.negative.actions == other
        else:
            assert t.negative.actions == actions[: len(t.negative.actions)]
            assert len(t.negative.actions) < 3


def test_rule_hindsight_reads_device_and_door_changes(env):
    source = _play(env, "boil/0", ["teleport to kitchen", "activate stove", "look around"], 0)
    states = ScienceWorldKit(env).replay(source.task_id, source.steps)
    assert not isinstance(states, str) and len(states) == 4
    on = goal_of("The stove is now activated.")
    there = goal_of("You teleport to the kitchen.")
    assert on == Goal("activated", ("stove",), "Your task is to turn on the stove.")
    assert there == Goal("agent_in", ("kitchen",), "Your task is to go to the kitchen.")
    assert [goal_holds(on, s) for s in states] == [False, False, True, True]
    assert [goal_holds(there, s) for s in states] == [False, True, True, True]
    kit = ScienceWorldKit(env)
    kit.prepare([source])
    positive = kit.hindsight(source)
    assert isinstance(positive, Trajectory) and positive.intent == on.text
    assert positive.actions == source.actions[:2]
    assert "stove, which is turned on" in _replayed(env, positive, "look around")


def test_pipeline_with_rule_hindsight_completes(tmp_path):
    """seen and unseen share the train split: the second pipeline reuses explore, synthesize and
    train from the first (one stage cache) and plans on its own split."""
    small = ["limit=2", "explore.num_per_task=3", "benchmark.num_envs=1"]
    synth, _ = run_pipeline(tmp_path, "scienceworld_seen", *small, run="seen")
    assert synth["benchmark"] == "scienceworld" and synth["triplets"] > 0
    _, stages = run_pipeline(tmp_path, "scienceworld_unseen", *small, run="unseen")
    assert [s["reused"] for s in stages] == [True, True, True, False, False]
