"""Game of 24 as an agent environment.

Task x: four integers (a puzzle of the standard 1,362-puzzle list, ``data/game24/24.csv``; task
id = its 0-based row; ``test`` = rows 900-999 as in Tree of Thoughts and ARMAP, ``train`` = the
rest). Output y: a sequence of steps ``a op b = c (left: ...)``, each combining two remaining
numbers, and a final ``Answer: <expression> = 24``. Reward r: 1 iff the answer uses every input
number exactly once and equals 24 under exact rational arithmetic (:func:`check_answer`), else 0.

Arithmetic is exact: the env keeps numbers as ``int`` while integral and as
``fractions.Fraction`` otherwise (``step`` on text is ~2.5x faster than with Fractions
throughout; ``benchmarks/env_step.py``). Model output is never evaluated as code: answers
go through a small recursive-descent parser that accepts only integers, ``+ - * /`` and
parentheses, and gives up fast on anything else.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, lru_cache
from importlib import resources
from typing import Any, NamedTuple

from arm_exp.envs.base import StepResult, UnknownSplitError, UnknownTaskError

TARGET = 24
MAX_EXPRESSION_CHARS = 256
MAX_ACTION_CHARS = 512
_MAX_LITERAL_DIGITS = 6
_MAX_DEPTH = 32

_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}
_OP_ALIASES = {"×": "*", "x": "*", "X": "*", "÷": "/", "−": "-", "–": "-"}

_NUM = r"-?\d{1,6}(?:/\d{1,6})?"
_STEP_RE = re.compile(
    rf"^\s*(?P<a>{_NUM})\s*(?P<op>[-+*/×xX÷−–])\s*(?P<b>{_NUM})\s*=\s*(?P<c>{_NUM})\s*"
    r"(?:\(\s*left\s*:[^)]*\)\s*)?\.?\s*$",
    re.IGNORECASE,
)
_ANSWER_RE = re.compile(r"^\s*(?:final\s+)?answer\s*[:\-]?\s*(?P<expr>.*?)\s*$", re.I | re.S)
_TOKEN_RE = re.compile(r"\s*(?:(\d+)|([-+*/()×÷−–]))")


@cache
def load_puzzles() -> tuple[tuple[int, ...], ...]:
    """The 1,362 puzzles of 24.csv in file order (row i is task id ``str(i)``)."""
    text = resources.files("arm_exp.data").joinpath("game24/24.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return tuple(tuple(int(x) for x in r["Puzzles"].split()) for r in rows)


def parse_numbers(numbers: str | list[int] | tuple[int, ...]) -> list[int]:
    if isinstance(numbers, str):
        return [int(x) for x in numbers.split()]
    return [int(x) for x in numbers]


# The env's numbers are exact rationals kept as ``int`` while integral and ``Fraction`` only
# otherwise: int arithmetic and comparisons are C calls, Fraction's are Python code (~10x slower),
# and nearly every number in a Game of 24 episode is an integer. The expression parser (answers,
# synthesis) stays on Fraction.
Num = int | Fraction


def _num(x: Fraction) -> Num:
    """``x`` as an int when it is integral (the env's canonical form of a number)."""
    return x.numerator if x.denominator == 1 else x


def _apply(op: str, a: Num, b: Num) -> Num:
    """``a op b``, exact (``/`` never goes through float), in canonical form."""
    if op == "/":
        return _num(Fraction(a, b))
    value = _OPS[op](a, b)
    return _num(value) if type(value) is Fraction else value


@lru_cache(maxsize=65536)
def _literal(text: str) -> Num:
    """``"12"`` / ``"7/3"`` / ``"-5"`` in canonical form; cached, since ``Fraction(str)`` runs a
    regular expression per call on ``step``'s hot path. ZeroDivisionError for a zero
    denominator, ValueError for anything else malformed."""
    num, _, den = text.partition("/")
    return _num(Fraction(int(num), int(den))) if den else int(num)


def fmt(x: Num) -> str:
    """``12`` for integers, ``7/3`` for proper fractions (no spaces, so actions stay parseable)."""
    if type(x) is int:
        return str(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def make_intent(numbers: str | list[int] | tuple[int, ...], target: int | str = TARGET) -> str:
    """The natural-language task for a puzzle (the hindsight form uses another ``target``)."""
    nums = " ".join(str(n) for n in parse_numbers(numbers))
    return (
        f"Use the numbers {nums} and basic arithmetic operations (+ - * /) to obtain {target}. "
        "Each step combines two of the remaining numbers into a new one; use every number once."
    )


class _ParseError(ValueError):
    pass


def _tokenize(expr: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if m is None:
            raise _ParseError(f"unexpected character {expr[pos]!r}")
        tok = m.group(1) or m.group(2)
        if m.group(1) and len(tok) > _MAX_LITERAL_DIGITS:
            raise _ParseError("number literal too long")
        tokens.append(_OP_ALIASES.get(tok, tok))
        pos = m.end()
    return tokens


@dataclass(frozen=True)
class Expr:
    """A parsed arithmetic expression: a leaf (``op is None``, ``value`` the literal) or a node."""

    op: str | None
    value: Fraction
    left: Expr | None = None
    right: Expr | None = None

    def leaves(self) -> list[int]:
        if self.op is None:
            return [int(self.value)]
        assert self.left is not None and self.right is not None
        return self.left.leaves() + self.right.leaves()

    def render(self, top: bool = True) -> str:
        """Fully parenthesized, without the outermost pair."""
        if self.op is None:
            return fmt(self.value)
        assert self.left is not None and self.right is not None
        body = f"{self.left.render(False)} {self.op} {self.right.render(False)}"
        return body if top else f"({body})"


def combine(op: str, left: Expr, right: Expr) -> Expr:
    """A node; raises ZeroDivisionError for a division by zero."""
    return Expr(op, _OPS[op](left.value, right.value), left, right)


class _Parser:
    """expr := term (('+'|'-') term)* ; term := atom (('*'|'/') atom)* ; atom := INT | '(' expr ')'"""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.i = 0

    def parse(self) -> Expr:
        node = self._expr(0)
        if self.i != len(self.tokens):
            raise _ParseError(f"unexpected {self.tokens[self.i]!r}")
        return node

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _expr(self, depth: int) -> Expr:
        node = self._term(depth)
        while self._peek() in ("+", "-"):
            op = self.tokens[self.i]
            self.i += 1
            node = combine(op, node, self._term(depth))
        return node

    def _term(self, depth: int) -> Expr:
        node = self._atom(depth)
        while self._peek() in ("*", "/"):
            op = self.tokens[self.i]
            self.i += 1
            rhs = self._atom(depth)
            if op == "/" and rhs.value == 0:
                raise _ParseError("division by zero")
            node = combine(op, node, rhs)
        return node

    def _atom(self, depth: int) -> Expr:
        if depth > _MAX_DEPTH:
            raise _ParseError("nesting too deep")
        tok = self._peek()
        if tok is None:
            raise _ParseError("unexpected end of expression")
        self.i += 1
        if tok == "(":
            node = self._expr(depth + 1)
            if self._peek() != ")":
                raise _ParseError("missing ')'")
            self.i += 1
            return node
        if tok.isdigit():
            return Expr(None, Fraction(int(tok)))
        raise _ParseError(f"unexpected {tok!r}")


def parse_expression(expression: str) -> Expr | None:
    """The tree of an arithmetic expression (``Answer:`` prefix and ``= value`` suffix allowed),
    or ``None`` if it is not well formed. Never evaluates code and never raises."""
    if not isinstance(expression, str) or len(expression) > MAX_EXPRESSION_CHARS:
        return None
    m = _ANSWER_RE.match(expression)
    if m is not None:
        expression = m.group("expr")
    if expression.count("=") > 1:
        return None
    try:
        return _Parser(_tokenize(expression.split("=")[0])).parse()
    except (_ParseError, ZeroDivisionError, RecursionError):
        return None


def evaluate(numbers: str | list[int] | tuple[int, ...], expression: str) -> Fraction | None:
    """The exact value of ``expression`` if it is well formed and uses each of ``numbers``
    exactly once; ``None`` otherwise. Accepts an ``Answer:`` prefix and ignores a trailing
    ``= <value>``. Never raises on any string input and never evaluates code."""
    try:
        nums = parse_numbers(numbers)
    except (TypeError, ValueError):
        return None
    tree = parse_expression(expression)
    if tree is None or sorted(tree.leaves()) != sorted(nums):
        return None
    return tree.value


def check_answer(
    numbers: str | list[int] | tuple[int, ...], expression: str, target: int | Fraction = TARGET
) -> bool:
    """True iff ``expression`` uses each of ``numbers`` exactly once and equals ``target``.

    ``expression`` may carry an ``Answer:`` prefix and a ``= 24`` suffix (the suffix must then
    state the target). Anything else (names, attributes, ``**``, unary minus, huge literals,
    strings over 256 characters) is rejected without raising and without evaluating code.
    """
    value = evaluate(numbers, expression)
    return value is not None and _states_target(expression, value, target)


def _states_target(expression: str, value: Fraction, target: int | Fraction) -> bool:
    """The rest of :func:`check_answer` once ``value`` (its exact value) is known: it equals
    ``target``, and a ``= <value>`` suffix, if any, states the target."""
    if value != target:
        return False
    m = _ANSWER_RE.match(expression)
    body = m.group("expr") if m else expression
    if "=" in body:
        rhs = body.split("=", 1)[1].strip().rstrip(".").strip()
        try:
            stated = Fraction(rhs) if re.fullmatch(r"-?\d{1,6}(/\d{1,6})?", rhs) else None
        except (ValueError, ZeroDivisionError):
            stated = None
        if stated != target:
            return False
    return True


def solvable(numbers: str | list[int] | tuple[int, ...], target: int = TARGET) -> bool:
    """Whether some sequence of legal steps reaches ``target`` (exhaustive search)."""
    start = tuple(sorted(Fraction(n) for n in parse_numbers(numbers)))
    seen: set[tuple[Fraction, ...]] = set()

    def search(nums: tuple[Fraction, ...]) -> bool:
        if len(nums) == 1:
            return nums[0] == target
        if nums in seen:
            return False
        seen.add(nums)
        for i in range(len(nums)):
            for j in range(i + 1, len(nums)):
                rest = nums[:i] + nums[i + 1 : j] + nums[j + 1 :]
                for value in _combinations(nums[i], nums[j]):
                    if search(tuple(sorted((*rest, value)))):
                        return True
        return False

    return search(start)


def _combinations(a: Fraction, b: Fraction) -> list[Fraction]:
    out = [a + b, a * b, a - b, b - a]
    if b != 0:
        out.append(a / b)
    if a != 0:
        out.append(b / a)
    return out


class _State(NamedTuple):
    """Immutable, so a snapshot is the state object itself (O(1)). A NamedTuple rather than a
    frozen dataclass: ``step`` builds one per call and a frozen dataclass costs ~4x more."""

    numbers: tuple[Num, ...]
    exprs: tuple[str, ...]
    n_steps: int = 0
    done: bool = False
    score: float = 0.0


def _left(numbers: tuple[Num, ...]) -> str:
    return " ".join(_left_list(numbers))


def _left_list(numbers: tuple[Num, ...]) -> list[str]:
    return [fmt(x) for x in sorted(numbers)]


class Game24Env:
    """Game of 24 (see the module docstring for x, y and r).

    An invalid action (unparseable, numbers not available, wrong arithmetic) ends the episode
    unsolved, with reward 0, as in ARMAP, whose policy writes one chain of thought that is
    checked once, at the end (``Eval/game24/src/tot/tasks/game24.py:45-56``). With
    ``step_feedback`` (ours) it returns an observation that says why instead, leaves the puzzle
    state unchanged and counts towards ``max_steps``. After ``max_steps`` actions the episode
    ends unsolved.
    """

    benchmark = "game24"
    cheap_snapshot = True  # snapshot() returns the immutable state itself

    def __init__(
        self,
        max_steps: int = 10,
        test_start: int = 900,
        test_end: int = 1000,
        step_feedback: bool = False,
    ):
        if max_steps < 4:
            raise ValueError(f"max_steps={max_steps}: Game of 24 needs at least 4 steps")
        self.max_steps = max_steps
        self.step_feedback = step_feedback
        self.test_range = range(test_start, test_end)
        self._inputs: tuple[int, ...] = ()
        self._task_id: str | None = None
        self._state: _State | None = None
        self._successors: tuple[_State, dict[str, _State]] | None = None
        self._counters = {
            "env_steps": 0,
            "resets": 0,
            "invalid_actions": 0,
            "valid_actions_calls": 0,
        }

    # -- tasks -------------------------------------------------------------------------------
    def task_ids(self, split: str) -> list[str]:
        n = len(load_puzzles())
        if split == "test":
            return [str(i) for i in self.test_range]
        if split == "train":
            return [str(i) for i in range(n) if i not in self.test_range]
        if split == "all":
            return [str(i) for i in range(n)]
        raise UnknownSplitError(self.benchmark, split, ["train", "test", "all"])

    def numbers(self, task_id: str) -> tuple[int, ...]:
        puzzles = load_puzzles()
        try:
            idx = int(task_id)
        except (TypeError, ValueError):
            idx = -1
        if not 0 <= idx < len(puzzles):
            raise UnknownTaskError(
                f"game24 task id {task_id!r}: expected a row index 0..{len(puzzles) - 1}"
            )
        return puzzles[idx]

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str) -> str:
        self._inputs = self.numbers(task_id)
        self._task_id = str(task_id)
        self._state = _State(
            numbers=tuple(self._inputs),
            exprs=tuple(str(n) for n in self._inputs),
        )
        self._successors = None
        self._counters["resets"] += 1
        return f"Input: {' '.join(str(n) for n in self._inputs)}"

    def intent(self) -> str:
        return make_intent(self._inputs)

    @property
    def inputs(self) -> tuple[int, ...]:
        return self._inputs

    def _require_state(self) -> _State:
        if self._state is None:
            raise RuntimeError("Game24Env.step/valid_actions called before reset()")
        return self._state

    def valid_actions(self) -> list[str]:
        return list(self._successor_map())

    def _successor_map(self) -> dict[str, _State]:
        state = self._require_state()
        if self._successors is not None and self._successors[0] is state:
            return self._successors[1]
        self._counters["valid_actions_calls"] += 1
        succ: dict[str, _State] = {}
        if not state.done:
            if len(state.numbers) == 1:
                value = state.numbers[0]
                expr = _strip_parens(state.exprs[0])
                succ[f"Answer: {expr} = {fmt(value)}"] = self._answer_state(state, expr)
            else:
                for i, j, op, value, expr in _moves(state):
                    rest_n = tuple(x for k, x in enumerate(state.numbers) if k not in (i, j))
                    rest_e = tuple(x for k, x in enumerate(state.exprs) if k not in (i, j))
                    nums = (*rest_n, value)
                    a, b = (
                        (state.numbers[i], state.numbers[j])
                        if op[1]
                        else (state.numbers[j], state.numbers[i])
                    )
                    action = f"{fmt(a)} {op[0]} {fmt(b)} = {fmt(value)} (left: {_left(nums)})"
                    if action not in succ:
                        succ[action] = _State(nums, (*rest_e, expr), state.n_steps + 1)
        self._successors = (state, succ)
        return succ

    def _answer_state(self, state: _State, expr: str) -> _State:
        ok = check_answer(self._inputs, expr)
        return _State(state.numbers, state.exprs, state.n_steps + 1, True, 1.0 if ok else 0.0)

    def step(self, action: str) -> StepResult:
        state = self._require_state()
        self._counters["env_steps"] += 1
        if state.done:
            return "The episode is over.", 0.0, True, self._info(state, invalid=True)
        # Reuse the successors if valid_actions() already computed them for this state; do not
        # compute them just to step (a policy that never asks for valid actions pays nothing).
        cached = self._successors
        succ = cached[1] if cached is not None and cached[0] is state else {}
        nxt = succ.get(action) if isinstance(action, str) else None
        if nxt is None:
            nxt, error = self._parse_action(state, action)
            if nxt is None:
                return self._invalid(state, error)
        return self._advance(state, nxt)

    def _advance(self, state: _State, nxt: _State) -> StepResult:
        self._state = nxt
        if nxt.done:
            value = nxt.numbers[0] if len(nxt.numbers) == 1 else None
            if nxt.score == 1.0:
                obs = "Correct: the expression equals 24."
            elif value is not None:
                obs = f"Wrong answer: the expression equals {fmt(value)}, not 24."
            else:
                obs = "Wrong answer: it does not use each input number exactly once."
            info = self._info(nxt, left=_left_list(nxt.numbers))
            if value is not None:
                info["value"] = fmt(value)
            return obs, nxt.score - state.score, True, info
        left = _left_list(nxt.numbers)  # sorted + formatted once for obs and info
        if len(nxt.numbers) == 1:
            obs = f"Remaining numbers: {' '.join(left)}. Now give the answer."
        else:
            obs = f"Remaining numbers: {' '.join(left)}"
        if nxt.n_steps >= self.max_steps:
            nxt = _State(nxt.numbers, nxt.exprs, nxt.n_steps, True, 0.0)
            self._state = nxt
            return obs + " Out of steps.", 0.0, True, self._info(nxt, truncated=True, left=left)
        return obs, 0.0, False, self._info(nxt, left=left)

    def _invalid(self, state: _State, error: str) -> StepResult:
        self._counters["invalid_actions"] += 1
        nxt = _State(state.numbers, state.exprs, state.n_steps + 1, False, state.score)
        obs = f"Invalid action: {error}. Remaining numbers: {_left(state.numbers)}"
        if not self.step_feedback:
            self._state = _State(state.numbers, state.exprs, nxt.n_steps, True, 0.0)
            info = self._info(self._state, invalid=True)
            info["stop_reason"] = "invalid_action"
            return f"Invalid action: {error}. The episode is over.", 0.0, True, info
        if nxt.n_steps >= self.max_steps:
            nxt = _State(state.numbers, state.exprs, nxt.n_steps, True, 0.0)
            self._state = nxt
            return obs + " Out of steps.", 0.0, True, self._info(nxt, invalid=True, truncated=True)
        self._state = nxt
        return obs, 0.0, False, self._info(nxt, invalid=True)

    def _parse_action(self, state: _State, action: Any) -> tuple[_State | None, str]:
        if not isinstance(action, str) or not action.strip():
            return None, "empty action"
        if len(action) > MAX_ACTION_CHARS:
            return None, f"action longer than {MAX_ACTION_CHARS} characters"
        m = _ANSWER_RE.match(action)
        if m is not None:
            expr = m.group("expr").strip()
            if not expr:
                return None, "empty answer"
            value = evaluate(self._inputs, expr)  # parsed once: check_answer would parse again
            ok = value is not None and _states_target(expr, value, TARGET)
            nxt = _State(state.numbers, state.exprs, state.n_steps + 1, True, 1.0 if ok else 0.0)
            if value is not None:
                nxt = _State(
                    (_num(value),), (expr.split("=")[0].strip(),), nxt.n_steps, True, nxt.score
                )
            return nxt, ""
        m = _STEP_RE.match(action)
        if m is None:
            return None, "expected 'a op b = c (left: ...)' or 'Answer: <expression> = 24'"
        try:
            a, b, c = _literal(m.group("a")), _literal(m.group("b")), _literal(m.group("c"))
        except (ValueError, ZeroDivisionError):
            return None, "malformed number"
        op = _OP_ALIASES.get(m.group("op"), m.group("op"))
        if op == "/" and b == 0:
            return None, "division by zero"
        numbers = state.numbers
        ia = next((k for k, x in enumerate(numbers) if x == a), -1)
        if ia < 0:
            return None, f"{fmt(a)} is not among the remaining numbers"
        ib = next((k for k, x in enumerate(numbers) if k != ia and x == b), -1)
        if ib < 0:
            return None, f"{fmt(b)} is not among the remaining numbers"
        got = _apply(op, a, b)
        if got != c:
            return None, f"{fmt(a)} {op} {fmt(b)} is {fmt(got)}, not {fmt(c)}"
        expr = f"({state.exprs[ia]} {op} {state.exprs[ib]})"
        rest_n = tuple(x for k, x in enumerate(state.numbers) if k not in (ia, ib))
        rest_e = tuple(x for k, x in enumerate(state.exprs) if k not in (ia, ib))
        return _State((*rest_n, got), (*rest_e, expr), state.n_steps + 1), ""

    def _info(
        self,
        state: _State,
        invalid: bool = False,
        truncated: bool = False,
        left: list[str] | None = None,
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "score": state.score,
            "success": state.score == 1.0,
            "invalid": invalid,
            "left": left if left is not None else _left_list(state.numbers),
        }
        if truncated:
            info["truncated"] = True
        return info

    # -- search support ----------------------------------------------------------------------
    def snapshot(self) -> _State:
        return self._require_state()

    def restore(self, snapshot: _State) -> None:
        self._state = snapshot

    def counters(self) -> dict[str, float]:
        return dict(self._counters)

    def close(self) -> None:
        self._state = None


def _moves(state: _State):
    """All (i, j, (op, a_first), value, expr) combining numbers i < j in both orders."""
    nums, exprs = state.numbers, state.exprs
    for i in range(len(nums)):
        for j in range(i + 1, len(nums)):
            a, b = nums[i], nums[j]
            ea, eb = exprs[i], exprs[j]
            yield i, j, ("+", True), _apply("+", a, b), f"({ea} + {eb})"
            yield i, j, ("*", True), _apply("*", a, b), f"({ea} * {eb})"
            yield i, j, ("-", True), _apply("-", a, b), f"({ea} - {eb})"
            yield i, j, ("-", False), _apply("-", b, a), f"({eb} - {ea})"
            if b != 0:
                yield i, j, ("/", True), _apply("/", a, b), f"({ea} / {eb})"
            if a != 0:
                yield i, j, ("/", False), _apply("/", b, a), f"({eb} / {ea})"


def _strip_parens(expr: str) -> str:
    """Drop one pair of parentheses that encloses the whole expression."""
    if expr.startswith("(") and expr.endswith(")"):
        depth = 0
        for k, ch in enumerate(expr):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and k < len(expr) - 1:
                return expr
        return expr[1:-1]
    return expr
