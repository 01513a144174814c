"""Model output is untrusted: every parser of LLM text takes arbitrary strings.

For each parser: no exception escapes, nothing is evaluated (``eval``/``exec``/``compile`` and
``os.system`` are trip-wired while it runs) and each call returns in under 10 ms. The fast tier
draws 500 examples per parser; the ``slow`` test draws 10,000 per parser and prints the max
per-call latency (``pytest -m slow -s tests/unit/test_fuzz_parsers.py``).
"""

from __future__ import annotations

import builtins
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from arm_exp.agents.alfworld import AlfWorldAgent
from arm_exp.agents.base import Proposal
from arm_exp.agents.game24 import Game24Agent
from arm_exp.agents.scienceworld import ScienceWorldAgent
from arm_exp.agents.webshop import WebShopAgent
from arm_exp.artifacts import JsonlError, read_records
from arm_exp.envs.game24 import Game24Env, check_answer, parse_expression
from arm_exp.llm.base import BaseLLM, Generation
from arm_exp.planning.scorers import PolicyJudgeScorer
from arm_exp.synthesis.game24 import Game24Kit
from arm_exp.synthesis.ranked import ScoreRankedKit
from arm_exp.types import Step, Trajectory, Triplet

LIMIT_S = 0.010
FAST_EXAMPLES = 500
SLOW_EXAMPLES = 10_000

# Pieces of the formats the parsers look for, so fuzzed text reaches their deeper branches.
FRAGMENTS = [
    "Thought:",
    "Action:",
    "**Action:**",
    "Action 1:",
    "Observation:",
    "Answer:",
    "Input:",
    "Task:",
    "search[",
    "click[",
    "]",
    "[",
    "(",
    ")",
    "=",
    "+",
    "-",
    "*",
    "/",
    "×",
    "÷",
    "(left:",
    "left:",
    "24",
    "13",
    "4",
    "0",
    "1e10",
    "9" * 50,
    ".",
    "\n",
    "\n\n",
    " ",
    "`",
    "**",
    "Yes",
    "no",
    "obtain",
    "using the numbers",
    "go to",
    "take",
    "put",
    "move",
    "in/on",
    "focus on",
    "look around",
    "Buy Now",
    "< Prev",
    "Next >",
    "__import__('os').system('x')",
    "eval(",
    "exec(",
    "lambda:",
    "\x00",
    "\u202e",
    "😀",
    "\r",
    "\t",
]
texts = st.one_of(
    st.text(max_size=2000),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=300).map("".join),
)


class _ScriptedJudge(BaseLLM):
    """An LLM whose every sample is the text under test (for the policy-judge parser)."""

    def __init__(self) -> None:
        super().__init__()
        self.text = ""

    def generate(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=128, stop=None, seed=None
    ):
        return [Generation([self.text] * n) for _ in prompts]


def _source() -> Trajectory:
    steps = [
        Step("10 - 4 = 6 (left: 6 9 13)", "6 9 13"),
        Step("13 - 9 = 4 (left: 4 6)", "4 6"),
        Step("6 * 4 = 24 (left: 24)", "24"),
        Step("Answer: (10 - 4) * (13 - 9) = 24", "Correct", reward=1.0, done=True),
    ]
    return Trajectory("999#0", "game24", "999", "Use 4 9 10 13 to obtain 24.", "Input: 4 9 10 13",
                      steps, score=1.0, success=True)  # fmt: skip


def _parsers() -> dict[str, Callable[[str], object]]:
    """name -> a one-argument call of that parser on model text."""
    source = _source()
    g24_kit, ranked = Game24Kit(positives="explored"), ScoreRankedKit("webshop")
    g24_backward = Game24Kit()
    positive = g24_kit.parse_intent("Use the numbers 4 9 10 13 to obtain 24.", source)
    assert isinstance(positive, Trajectory)
    env = Game24Env(max_steps=1000)
    env.reset("999")
    start = env.snapshot()
    judge_llm = _ScriptedJudge()
    judge = PolicyJudgeScorer(judge_llm, samples=1)

    def env_step(text: str) -> object:
        env.restore(start)
        return env.step(text)

    def judge_score(text: str) -> object:
        judge_llm.text = text
        return judge.score(["x"], [source])

    return {
        "game24.check_answer": lambda s: check_answer("4 9 10 13", s),
        "game24.parse_expression": parse_expression,
        "game24.env.step": env_step,
        "agent.game24.parse": Game24Agent().parse,
        "agent.webshop.parse": WebShopAgent().parse,
        "agent.scienceworld.parse": ScienceWorldAgent().parse,
        "agent.alfworld.parse": AlfWorldAgent().parse,
        "synthesis.game24.parse_intent": lambda s: g24_kit.parse_intent(s, source),
        "synthesis.game24.parse_puzzle": lambda s: g24_backward.parse_intent(s, source),
        "synthesis.game24.parse_negative": lambda s: g24_kit.parse_negative(s, positive, "wrong"),
        "synthesis.ranked.parse_intent": lambda s: ranked.parse_intent(s, source),
        "synthesis.ranked.parse_negative": lambda s: ranked.parse_negative(s, source, "llm"),
        "planning.policy_judge": judge_score,
    }


PARSERS = _parsers()


class Evaluated(AssertionError):
    pass


@contextmanager
def _no_evaluation() -> Iterator[None]:
    """Make eval/exec/compile/os.system raise while a parser runs."""

    def trip(*args, **kwargs):
        raise Evaluated("a parser evaluated model text")

    saved = {n: getattr(builtins, n) for n in ("eval", "exec", "compile")}
    saved_system = os.system
    for n in saved:
        setattr(builtins, n, trip)
    os.system = trip  # type: ignore[assignment]
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(builtins, n, f)
        os.system = saved_system


@dataclass
class Latency:
    calls: int = 0
    worst: float = 0.0
    worst_text: str = field(default="", repr=False)


def _call(name: str, text: str, stats: Latency) -> object:
    parse = PARSERS[name]
    with _no_evaluation():
        t0 = time.perf_counter()
        out = parse(text)
        took = time.perf_counter() - t0
        if took >= LIMIT_S:
            # A loaded shared CI box can stall any call once; a slow parser is slow every time.
            took = min(took, *(_timed(parse, text) for _ in range(3)))
    stats.calls += 1
    if took > stats.worst:
        stats.worst, stats.worst_text = took, text
    assert took < LIMIT_S, f"{name} took {took * 1000:.1f} ms on {text[:200]!r}"
    if name.startswith("agent."):
        assert isinstance(out, Proposal) and all(isinstance(a, str) for a in out.actions)
    return out


def _timed(parse: Callable[[str], object], text: str) -> float:
    t0 = time.perf_counter()
    parse(text)
    return time.perf_counter() - t0


ADVERSARIAL = [
    "(" * 5000 + "4" + ")" * 5000,
    "9" * 100_000,
    "Action: " + "search[" * 20_000,
    "Thought: " + "x" * 200_000,
    "Answer: " + "4 * " * 20_000 + "4 = 24",
    "\n" * 50_000,
    "Use the numbers " + "1 " * 10_000 + "to obtain 24.",
    "numbers " + "1, " * 10_000,
    "numbers 1 " * 5_000 + "obtain",
    "Action: x" + " " * 50_000 + "y",
    "Answer: x" + " " * 50_000 + "y",
    "action" + " " * 5_000 + "x",
    "thought" + " " * 5_000 + "x",
    "*" * 10_000 + "action" + " " * 5_000,
    "\n \n" * 20_000 + "Action",
]


def _fuzz(n: int):
    def deco(fn):
        fn = given(text=texts)(fn)
        for a in ADVERSARIAL:
            fn = example(text=a)(fn)
        return settings(
            max_examples=n,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )(fn)

    return deco


@pytest.mark.parametrize("name", sorted(PARSERS))
@_fuzz(FAST_EXAMPLES)
def test_parser_takes_any_text(name, text):
    _call(name, text, Latency())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parser_takes_any_text_10k(name):
    stats = Latency()

    @_fuzz(SLOW_EXAMPLES)
    def run(text):
        _call(name, text, stats)

    run()
    assert stats.calls >= SLOW_EXAMPLES
    print(f"\nfuzz {name}: {stats.calls} calls, max {stats.worst * 1000:.2f} ms")


def test_tripwire_catches_evaluation():
    with _no_evaluation(), pytest.raises(Evaluated):
        eval("1")  # noqa: S307 - the point of the test


# -- corrupt artifacts: arbitrary bytes in a JSONL file ----------------------------------------

_json_lines = st.lists(
    st.one_of(
        st.binary(max_size=200),
        st.sampled_from([b"{}", b"[]", b"null", b'{"id": 1}', b'{"steps": "x"}', b"{\"id\": \"a\""]),
        st.dictionaries(
            st.sampled_from(["id", "benchmark", "task_id", "intent", "initial_observation",
                             "steps", "positive", "negative", "score", "meta"]),
            st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers())),
        ).map(lambda d: json.dumps(d).encode()),
    ),
    max_size=20,
)  # fmt: skip


@pytest.fixture(scope="module")
def jsonl_path(tmp_path_factory):
    return tmp_path_factory.mktemp("jsonl") / "trajectories.jsonl"


@settings(max_examples=200, deadline=None, database=None)
@given(lines=_json_lines, newline_at_end=st.booleans())
def test_corrupt_jsonl_is_a_clear_error_or_skipped(jsonl_path, lines, newline_at_end):
    path = jsonl_path
    path.write_bytes(b"\n".join(lines) + (b"\n" if newline_at_end else b""))
    for parse in (Trajectory.from_dict, Triplet.from_dict):
        try:
            read_records(path, parse)
        except JsonlError as e:
            assert str(path) in str(e)
        stats: dict[str, int] = {}
        read_records(path, parse, skip_bad=True, stats=stats)  # never raises when skipping
