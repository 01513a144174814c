"""Game of 24: the env's search space, its answer checker, its step semantics."""

from __future__ import annotations

import itertools
import random
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arm_exp.envs.base import UnknownSplitError, UnknownTaskError
from arm_exp.envs.game24 import (
    Game24Env,
    _State,
    check_answer,
    evaluate,
    load_puzzles,
    make_intent,
)
from arm_exp.synthesis.game24 import Game24Kit, backward_puzzle
from arm_exp.types import Step, Trajectory


def _subset_values(nums: tuple[int, ...]) -> set[Fraction]:
    """Independent oracle: every value of every expression tree, by DP over subsets."""
    n = len(nums)
    vals: dict[int, set[Fraction]] = {1 << i: {Fraction(nums[i])} for i in range(n)}
    for mask in range(1, 1 << n):
        if mask in vals:
            continue
        out: set[Fraction] = set()
        sub = (mask - 1) & mask
        while sub:
            rest = mask ^ sub
            if sub < rest:
                for a in vals[sub]:
                    for b in vals[rest]:
                        out.update((a + b, a - b, b - a, a * b))
                        if b:
                            out.add(a / b)
                        if a:
                            out.add(b / a)
            sub = (sub - 1) & mask
        vals[mask] = out
    return vals[(1 << n) - 1]


def _env_solvable(env: Game24Env, task_numbers: tuple[int, ...]) -> bool:
    """Search through the env's own valid_actions/step/snapshot/restore."""
    seen: set[tuple[Fraction, ...]] = set()

    def dfs() -> bool:
        state = env.snapshot()
        key = tuple(sorted(state.numbers))
        if key in seen:
            return False
        seen.add(key)
        for action in env.valid_actions():
            _, _, done, info = env.step(action)
            if info["success"] or (not done and dfs()):
                return True
            env.restore(state)
        return False

    return dfs()


class _Env(Game24Env):
    """Lets a test load arbitrary numbers as a task."""

    def __init__(self, numbers: tuple[int, ...]):
        super().__init__()
        self._numbers = numbers

    def numbers(self, task_id: str) -> tuple[int, ...]:
        return self._numbers


def test_every_puzzle_is_solvable_by_valid_action_search_iff_it_has_a_solution():
    puzzles = load_puzzles()
    assert len(puzzles) == 1362
    env = Game24Env()
    for i, nums in enumerate(puzzles):
        env.reset(str(i))
        assert _env_solvable(env, nums) == (24 in _subset_values(nums)), (i, nums)


def test_unsolvable_quadruples_are_not_reachable():
    unsolvable = [
        q
        for q in itertools.combinations_with_replacement(range(1, 14), 4)
        if 24 not in _subset_values(q)
    ][:40]
    assert len(unsolvable) == 40
    for q in unsolvable:
        env = _Env(q)
        env.reset("0")
        assert not _env_solvable(env, q), q


def test_splits_follow_the_standard_protocol():
    env = Game24Env()
    test, train = env.task_ids("test"), env.task_ids("train")
    assert test == [str(i) for i in range(900, 1000)]
    assert len(train) == 1262 and not set(train) & set(test)
    assert load_puzzles()[900] == (4, 5, 6, 10) and load_puzzles()[999] == (4, 9, 10, 13)
    with pytest.raises(UnknownSplitError, match="valid splits"):
        env.task_ids("validation")
    with pytest.raises(UnknownTaskError):
        env.reset("99999")


# -- check_answer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numbers", "expr", "ok"),
    [
        ("4 9 10 13", "(10 - 4) * (13 - 9) = 24", True),
        ("4 9 10 13", "Answer: (10 - 4) * (13 - 9) = 24", True),
        ([4, 9, 10, 13], "(13 - 9) * (10 - 4)", True),
        ("1 3 4 6", "6 / (1 - 3 / 4)", True),  # needs exact fractions
        ("4 9 10 13", "(10 - 4) * (13 - 9) = 25", False),  # states the wrong target
        ("4 9 10 13", "(10 - 4) * (13 - 9) + 0", False),  # a number not in the input
        ("4 9 10 13", "(10 - 4) * 4", False),  # missing numbers, 4 reused
        ("4 4 6 8", "(6 - 4) * (4 + 8)", True),
        ("4 4 6 8", "(6 - 4) * (8 + 8)", False),
        ("4 9 10 13", "__import__('os').system('true')", False),
        ("4 9 10 13", "(10 - 4) ** (13 - 9)", False),
        ("4 9 10 13", "-(4 - 10) * (13 - 9)", False),  # unary minus is not an operation here
        ("4 9 10 13", "10 / (13 - 13)", False),
        ("4 9 10 13", "", False),
        ("4 9 10 13", "(" * 5000 + "4" + ")" * 5000, False),
        ("4 9 10 13", "9" * 100000, False),
        ("4 9 10 13", "1e10", False),
        ("4 9 10 13", "(10 - 4) * (13 - 9) = 24 = 24", False),
    ],
)
def test_check_answer_cases(numbers, expr, ok):
    assert check_answer(numbers, expr) is ok


_OPS = ["+", "-", "*", "/"]


@st.composite
def _expressions(draw):
    """A random expression tree over 4 numbers, rendered fully parenthesized, with its value."""
    nums = draw(st.lists(st.integers(1, 13), min_size=4, max_size=4))
    items: list[tuple[str, Fraction | None]] = [(str(n), Fraction(n)) for n in nums]
    while len(items) > 1:
        i = draw(st.integers(0, len(items) - 1))
        a = items.pop(i)
        j = draw(st.integers(0, len(items) - 1))
        b = items.pop(j)
        op = draw(st.sampled_from(_OPS))
        if a[1] is None or b[1] is None or (op == "/" and b[1] == 0):
            value = None
        else:
            value = {
                "+": a[1] + b[1],
                "-": a[1] - b[1],
                "*": a[1] * b[1],
                "/": a[1] / b[1] if b[1] else None,
            }[op]
        items.append((f"({a[0]} {op} {b[0]})", value))
    return nums, items[0][0], items[0][1]


@settings(max_examples=300, deadline=None)
@given(_expressions())
def test_check_answer_agrees_with_exact_evaluation(case):
    nums, expr, value = case
    assert evaluate(nums, expr) == value
    assert check_answer(nums, expr) == (value == 24)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_check_answer_never_raises_and_is_fast(text):
    # CPU time of this thread: on a shared CI box wall time also counts other processes' turns.
    start = time.thread_time()
    assert check_answer("4 9 10 13", text) in (True, False)
    assert time.thread_time() - start < 0.01


# -- env semantics ----------------------------------------------------------------------------


def test_an_invalid_step_ends_the_episode_unsolved_as_armaps_final_check():
    """ARMAP checks one chain of thought once, at the end: no step-level feedback, no second try
    (fidelity row 28)."""
    for bad in ["", "hello", "4 + 4 = 8", "4 + 5 = 10", "4 / 0 = 0", "x" * 10000, "import os"]:
        env = Game24Env()
        env.reset("900")  # 4 5 6 10
        assert not env.step("4 + 6 = 10 (left: 5 10 10)")[2]
        obs, reward, done, info = env.step(bad)
        assert done and info["invalid"] and not info["success"] and info["score"] == 0.0
        assert reward == 0.0 and info["stop_reason"] == "invalid_action"
        assert obs.startswith("Invalid action") and obs.endswith("The episode is over.")
        assert env.step("10 + 10 = 20 (left: 5 20)")[2]  # nothing more happens


def test_step_feedback_explains_invalid_steps_and_goes_on():
    env = Game24Env(max_steps=5, step_feedback=True)
    env.reset("900")
    before = env.snapshot()
    for bad in ["", "hello", "4 + 4 = 8", "4 + 5 = 10", "4 / 0 = 0", "x" * 10000, "import os"]:
        obs, reward, done, info = env.step(bad)
        assert info["invalid"] and reward == 0.0 and obs.startswith("Invalid action")
        if done:
            break
        assert env.snapshot().numbers == before.numbers
    assert done and info.get("truncated")


def test_solution_path_and_lenient_formats():
    env = Game24Env()
    env.reset("999")  # 4 9 10 13
    assert env.step("10-4=6")[3]["left"] == ["6", "9", "13"]
    assert env.step("13 - 9 = 4 (left: whatever)")[3]["left"] == ["4", "6"]
    obs, reward, done, info = env.step("6 × 4 = 24")
    assert not done and info["left"] == ["24"]
    (answer,) = env.valid_actions()
    assert answer == "Answer: (10 - 4) * (13 - 9) = 24"
    obs, reward, done, info = env.step(answer)
    assert done and reward == 1.0 and info["success"] and info["score"] == 1.0


def test_direct_answer_is_checked():
    env = Game24Env()
    env.reset("999")
    obs, reward, done, info = env.step("Answer: (10 - 4) * (13 - 9) = 24")
    assert done and info["success"]
    env.reset("999")
    obs, reward, done, info = env.step("Answer: 4 * 9 - 10 - 13 = 24")
    assert done and not info["success"] and "equals 13" in obs


def test_snapshot_restore_is_constant_time():
    # O(1) by construction, checked without a stopwatch: a snapshot is the immutable state
    # object itself (no copy), and restoring it replays nothing (no env step, no new object).
    env = Game24Env()
    env.reset("900")
    snap = env.snapshot()
    assert isinstance(snap, tuple) and hash(snap) is not None  # immutable all the way down
    steps = env.counters()["env_steps"]
    env.step(env.valid_actions()[0])
    after_step = env.snapshot()
    for _ in range(3):
        env.restore(snap)
        assert env.snapshot() is snap
    assert env.counters()["env_steps"] == steps + 1  # the one real step, nothing replayed
    env.restore(after_step)
    assert env.snapshot() is after_step and env.valid_actions()


def test_valid_actions_are_unique_and_all_valid():
    env = Game24Env()
    env.reset("900")
    actions = env.valid_actions()
    assert len(actions) == len(set(actions))
    snap = env.snapshot()
    for a in actions:
        env.restore(snap)
        assert not env.step(a)[3]["invalid"]
    assert env.counters()["env_steps"] == len(actions)


def test_fraction_path_is_exact_and_numbers_stay_canonical():
    env = _Env((3, 3, 8, 8))
    env.reset("0")
    assert env.step("8 / 3 = 8/3")[3]["left"] == ["8/3", "3", "8"]
    assert env.step("3 - 8/3 = 1/3")[3]["left"] == ["1/3", "8"]
    obs, _, done, info = env.step("8 / 1/3 = 24")
    assert not done and info["left"] == ["24"]
    (value,) = env.snapshot().numbers
    assert type(value) is int and value == 24  # integral results are ints, never 24.0
    (answer,) = env.valid_actions()
    assert answer == "Answer: 8 / (3 - (8 / 3)) = 24"
    assert env.step(answer)[3]["success"]


def test_parsed_steps_reach_the_same_states_as_valid_action_steps():
    """``step`` on text (the parse path) and on a listed valid action (the successor cache)
    must agree on every state, observation and info."""
    rng = random.Random(0)
    listed, parsed = Game24Env(), Game24Env()
    for task in [str(i) for i in range(0, 1362, 37)]:
        listed.reset(task)
        parsed.reset(task)
        done = False
        while not done:
            action = rng.choice(listed.valid_actions())
            got = listed.step(action)
            want = parsed.step(action)  # parsed never lists its successors
            assert got == want
            a, b = listed.snapshot(), parsed.snapshot()
            assert (a.numbers, a.n_steps, a.done, a.score) == (
                b.numbers,
                b.n_steps,
                b.done,
                b.score,
            )
            assert [type(x) for x in a.numbers] == [type(x) for x in b.numbers]
            done = got[2]
            if not done:  # a finished state's expression text is never read again
                assert a.exprs == b.exprs


# -- positives written backwards from 24 (fidelity row 11) -------------------------------------


def test_rule_backward_puzzles_are_new_solved_puzzles_of_four_numbers_1_to_13():
    rng = random.Random(0)
    puzzles = [backward_puzzle(rng) for _ in range(300)]
    for tree in puzzles:
        nums = sorted(tree.leaves())
        assert len(nums) == 4 and all(1 <= n <= 13 for n in nums)
        assert check_answer(nums, tree.render())
    assert len({tuple(sorted(t.leaves())) for t in puzzles}) > 100  # varied, not one template
    rng2 = random.Random(0)
    assert [backward_puzzle(rng2).render() for _ in range(300)] == [t.render() for t in puzzles]


def test_backward_positive_is_written_in_the_explorers_format_and_replays_to_24():
    source = Trajectory("5#0", "game24", "5", "x", "Input: 1 1 4 6")
    positive = Game24Kit(seed=3).hindsight(source)
    assert isinstance(positive, Trajectory) and positive.meta["backward"]
    nums = positive.meta["numbers"]
    assert positive.intent == make_intent(nums) and positive.task_id == "backward:5#0"
    env = Game24Env()
    env._inputs = tuple(nums)  # the new puzzle need not be in 24.csv: play it directly
    env._state = _State(tuple(nums), tuple(str(n) for n in nums))
    for step in positive.steps:
        obs, reward, done, info = env.step(step.action)
        assert not info["invalid"], (step.action, obs)
    assert done and info["success"]
    assert Game24Kit(seed=3).hindsight(source).steps == positive.steps  # deterministic
    assert Game24Kit(seed=4).hindsight(source).steps != positive.steps
    assert Game24Kit().natural_negatives(positive, 3, random.Random(0)) == []


def test_llm_backward_puzzles_are_parsed_and_checked_like_armaps():
    kit = Game24Kit()
    source = Trajectory("7#1", "game24", "7", "x", "Input: 1 1 4 6")
    prompt = kit.intent_prompt(source)[0]["content"]
    assert "working backwards from 24" in prompt and prompt.count("Expression:") == 5
    other = kit.intent_prompt(Trajectory("7#2", "game24", "7", "x", "Input: 1 1 4 6"))
    assert other[0]["content"] != prompt  # the examples' order differs per source
    assert kit.intent_temperature == 0.7  # ARMAP samples its puzzles at T 0.7
    listed_wrong = "Expression: 4 * (13 - (2 + 5)) = 24\nNumbers: 4, 13, 2 and 6"
    assert kit.parse_intent(listed_wrong, source) == "puzzle_numbers_mismatch"
    good = (
        "24 = 4 * 6\n6 = 13 - 7\n7 = 2 + 5\nExpression: 4 * (13 - (2 + 5)) = 24\nNumbers: 4 13 2 5"
    )
    positive = kit.parse_intent(good, source)
    assert isinstance(positive, Trajectory) and positive.meta["numbers"] == [2, 4, 5, 13]
    assert kit.validate_positive(positive) is None and positive.meta["llm_puzzle"] == good
    assert kit.parse_intent("Expression: 4 * 6 + 0 * 13 = 24\nNumbers: 4 6 0 13", source) == (
        "puzzle_not_four_numbers_1_to_13"
    )
    assert kit.parse_intent("Expression: 4 * 5 + 2 + 1 = 24\nNumbers: 4 5 2 1", source) == (
        "puzzle_not_24"
    )
    assert kit.parse_intent("no puzzle here", source) == "puzzle_unparseable"
    assert kit.parse_intent("Expression: 4 * 6\nNumbers: 4 6", source) == (
        "puzzle_not_four_numbers_1_to_13"
    )


def test_explored_positives_keep_the_hindsight_rule():
    kit = Game24Kit(positives="explored")
    assert kit.intent_temperature == 0.0
    env = Game24Env()
    obs = env.reset("999")  # 4 9 10 13
    source = Trajectory("999#0", "game24", "999", env.intent(), obs)
    for action in ["13 - 9 = 4 (left: 4 4 10)", "4 + 4 = 8 (left: 8 10)", "10 + 8 = 18 (left: 18)"]:
        o, r, d, info = env.step(action)
        source.steps.append(Step(action, o, r, d, "", info))
    o, r, d, info = env.step("Answer: (13 - 9) + 4 + 10 = 18")
    source.steps.append(Step("Answer: (13 - 9) + 4 + 10 = 18", o, r, d, "", info))
    positive = kit.hindsight(source)
    assert isinstance(positive, Trajectory) and positive.meta["target"] == "18"
    with pytest.raises(ValueError, match="synthesis_kit.positives"):
        Game24Kit(positives="forward")
