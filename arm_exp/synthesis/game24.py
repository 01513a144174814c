"""Game of 24 synthesis kit: positives written backwards from 24, and ARMAP's error taxonomy.

Positives, ``positives: backward`` (ARMAP, the default; ``prompts/game24_data.py``,
``data_generation_pipeline.py``): a new puzzle with its solution, written backwards from 24
(24 = 3 * 8, 8 = 2 + 6, 3 = 12 / 4: the numbers 2 4 6 12), so every positive reaches 24 like
every test intent. One per explored trajectory (which is only its seed: the puzzle is new). The
``rule`` strategy splits numbers at random (:func:`backward_puzzle`, no LLM); the ``llm``
strategy prompts the synthesizer LLM the way ARMAP does (a 5-shot "work backwards" prompt at
T 0.7, the examples in a per-source order, ``prompts/game24/backward.txt``) and keeps a puzzle
whose four numbers are 1-13 and whose expression really equals 24 (ARMAP checks the numbers only).

``positives: explored`` (ours before): explored trajectories whose answer is exactly right for
their intent. With ``intent_target: reached`` (hindsight) a trajectory that reached 17 is a
positive for "use 4 9 10 13 to obtain 17", so random exploration yields a positive per
trajectory; with ``intent_target: 24`` only trajectories that reached 24 count.

Negatives (ARMAP's typical errors), built on the positive's answer expression tree and written
out as steps in exactly the explorer's format, so formatting never gives them away (except for
``bad_format``, whose point it is):

- ``hallucinated_number``: one input number replaced by a number that is not in the input;
- ``missing_number``: one input number left out;
- ``wrong_arithmetic``: one operation changed while its step still claims the old result;
- ``bad_format``: no answer line, an answer without expression, unbalanced parentheses, or
  an answer in intermediate values instead of the input numbers;
- ``natural``: another explored trajectory of the same puzzle that reached a different value
  (explored positives only: no run of a backward-written puzzle exists).

Every synthetic negative claims the intent's target; validation requires that it fails
:func:`~arm_exp.envs.game24.check_answer`, and that a positive passes it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from importlib import resources
from string import Template

from arm_exp.agents.game24 import Game24Agent
from arm_exp.envs.game24 import (
    TARGET,
    Expr,
    check_answer,
    combine,
    evaluate,
    fmt,
    make_intent,
    parse_expression,
    parse_numbers,
)
from arm_exp.llm.base import Prompt
from arm_exp.rollout import derive_seed
from arm_exp.types import Step, Trajectory

KINDS = ["hallucinated_number", "missing_number", "wrong_arithmetic", "bad_format"]
_KIND_TEXT = {
    "hallucinated_number": "use a number that is not among the input numbers",
    "missing_number": "leave out one of the input numbers",
    "wrong_arithmetic": "make an arithmetic mistake in one step",
    "bad_format": "break the required format (e.g. no answer line or unbalanced parentheses)",
}
# Two searches, not one `numbers ... .*? obtain` pattern: when no "obtain" follows, that one
# backtracks through the number list and rescans the rest for each number (quadratic).
_INTENT_NUMS_RE = re.compile(r"numbers\s+(?P<nums>-?\d+(?:[\s,]+(?:and\s+)?-?\d+)*)\b", re.I)
_INTENT_TARGET_RE = re.compile(r"obtain\s+(?P<target>-?\d+(?:/\d+)?)", re.I)
MAX_INTENT_TEXT = 2000  # an intent is one sentence; a runaway generation is cut before parsing
_ANSWER = re.compile(r"^\s*(?:final\s+)?answer\s*[:\-]", re.I)
POSITIVES = ("backward", "explored")
PUZZLE_SIZE = 4
PUZZLE_MAX = 13  # ARMAP's prompt: each new input number in the range 1 to 13
# `[ \t]`, not `\s`: `^\s*` at every line start would rescan a run of blank lines (quadratic).
_EXPRESSION_LINE = re.compile(r"^[ \t]*expression[ \t]*:(?P<expr>[^\n]*)", re.I | re.M)
_NUMBERS_LINE = re.compile(r"^[ \t]*numbers[ \t]*:(?P<nums>[^\n]*)", re.I | re.M)


def _template(name: str) -> Template:
    path = resources.files("arm_exp.synthesis").joinpath(f"prompts/game24/{name}.txt")
    return Template(path.read_text(encoding="utf-8"))


def _numbers(traj: Trajectory) -> list[int] | None:
    try:
        return parse_numbers(traj.initial_observation.removeprefix("Input:").strip())
    except ValueError:
        return None


def _answer(traj: Trajectory) -> str | None:
    """The last answer action that the env did not reject."""
    for step in reversed(traj.steps):
        if _ANSWER.match(step.action) and not step.info.get("invalid"):
            return step.action
    return None


def _steps_text(traj: Trajectory) -> str:
    return "\n".join(s.action for s in traj.steps if not s.info.get("invalid"))


def linearize(tree: Expr, claimed: dict[int, Fraction] | None = None) -> list[str]:
    """Steps ``a op b = c (left: ...)`` in post-order; ``claimed`` overrides a node's stated
    result (by ``id(node)``), and later steps build on the stated value, as a solver would.
    Leaf values are shown as in the tree; the ``left`` lists track the stated values."""
    claimed = claimed or {}
    values: list[Fraction] = [Fraction(v) for v in tree.leaves()]
    lines: list[str] = []

    def walk(node: Expr) -> Fraction:
        if node.op is None:
            return node.value
        assert node.left is not None and node.right is not None
        a, b = walk(node.left), walk(node.right)
        # Raises ZeroDivisionError when a stated (wrong) value makes a later division undefined.
        c = (
            claimed[id(node)]
            if id(node) in claimed
            else combine(node.op, Expr(None, a), Expr(None, b)).value
        )
        values.remove(a)
        values.remove(b)
        values.append(c)
        left = " ".join(fmt(x) for x in sorted(values))
        lines.append(f"{fmt(a)} {node.op} {fmt(b)} = {fmt(c)} (left: {left})")
        return c

    walk(tree)
    return lines


def _internal(tree: Expr) -> list[Expr]:
    if tree.op is None:
        return []
    assert tree.left is not None and tree.right is not None
    return [tree, *_internal(tree.left), *_internal(tree.right)]


def _replace_node(tree: Expr, old: Expr, new: Expr) -> Expr:
    """A copy of ``tree`` with the node ``old`` (by identity) replaced and values recomputed."""
    if tree is old:
        return new
    if tree.op is None:
        return tree
    assert tree.left is not None and tree.right is not None
    return combine(tree.op, _replace_node(tree.left, old, new), _replace_node(tree.right, old, new))


def _leaf_nodes(tree: Expr) -> list[Expr]:
    if tree.op is None:
        return [tree]
    assert tree.left is not None and tree.right is not None
    return _leaf_nodes(tree.left) + _leaf_nodes(tree.right)


def _split(value: int, last: bool, rng: random.Random) -> tuple[str, int, int] | None:
    """``value = a op b`` with positive integers (both at most ``PUZZLE_MAX`` when ``last``)."""
    cap = PUZZLE_MAX if last else PUZZLE_MAX * PUZZLE_MAX
    ops = ["+", "-", "*", "/"]
    rng.shuffle(ops)
    for op in ops:
        if op == "+":
            pairs = [(a, value - a) for a in range(1, value)]
        elif op == "-":
            pairs = [(value + b, b) for b in range(1, PUZZLE_MAX + 1)]
        elif op == "*":
            pairs = [(a, value // a) for a in range(2, value) if value % a == 0]
        else:
            pairs = [(value * b, b) for b in range(2, PUZZLE_MAX + 1)]
        pairs = [(a, b) for a, b in pairs if a <= cap and b <= cap]
        if pairs:
            a, b = rng.choice(pairs)
            return op, a, b
    return None


def backward_puzzle(rng: random.Random) -> Expr:
    """A new puzzle with its solution, written backwards from 24 by rule: 24 is split into
    ``a op b``, then a number that is still too large (else any), until there are
    ``PUZZLE_SIZE`` numbers, each an integer in 1..``PUZZLE_MAX``; every value on the way is a
    positive integer. Deterministic given ``rng``."""
    while True:  # a draw fails when a number cannot be split small enough; most succeed
        tree = Expr(None, Fraction(TARGET))
        for n_leaves in range(1, PUZZLE_SIZE):
            leaves = _leaf_nodes(tree)
            big = [x for x in leaves if x.value > PUZZLE_MAX]
            pick = rng.choice(big or [x for x in leaves if x.value > 1] or leaves)
            split = _split(int(pick.value), n_leaves == PUZZLE_SIZE - 1, rng)
            if split is None:
                break
            op, a, b = split
            node = combine(op, Expr(None, Fraction(a)), Expr(None, Fraction(b)))
            tree = _replace_node(tree, pick, node)
        if all(1 <= v <= PUZZLE_MAX for v in tree.leaves()) and len(tree.leaves()) == PUZZLE_SIZE:
            return tree


class Game24Kit:
    """Args:
    positives: ``backward`` (new puzzles written backwards from 24, ARMAP) or ``explored``.
    intent_target: ``explored`` positives only: ``reached`` (hindsight: the value the
        trajectory reached) or ``24``.
    kinds: the synthetic error kinds to use (default: all four).
    seed: the rule's backward puzzles and the LLM prompt's example order (per source).
    """

    benchmark = "game24"
    llm_intents = True

    def __init__(
        self,
        positives: str = "backward",
        intent_target: str | int = "reached",
        kinds: list[str] | None = None,
        seed: int = 0,
    ) -> None:
        if positives not in POSITIVES:
            raise ValueError(
                f"benchmark.synthesis_kit.positives={positives!r}: one of {', '.join(POSITIVES)}"
            )
        if str(intent_target) not in ("reached", "24"):
            raise ValueError(
                f"benchmark.synthesis_kit.intent_target={intent_target!r}: expected 'reached' or 24"
            )
        unknown = set(kinds or []) - set(KINDS)
        if unknown:
            raise ValueError(
                f"benchmark.synthesis_kit.kinds: unknown {sorted(unknown)}; valid {KINDS}"
            )
        self.positives = positives
        self.intent_target = str(intent_target)
        self.kinds = list(kinds or KINDS)
        self.seed = seed
        # The LLM samples backward puzzles (ARMAP: T 0.7); a hindsight intent is a fact (T 0).
        self.intent_temperature = 0.7 if positives == "backward" else 0.0
        self._by_task: dict[str, list[Trajectory]] = {}
        self._agent = Game24Agent()
        self._intent_tpl = _template("intent")
        self._backward_tpl = _template("backward")
        self._backward_examples = _template("backward_examples").template.strip().split("\n\n")
        self._negative_tpl = _template("negative")

    @property
    def drop_knobs(self) -> dict[str, str]:
        """What controls each of this kit's drop reasons (named when a run keeps few triplets)."""
        return {
            "not_success": (
                f"benchmark.synthesis_kit.intent_target={self.intent_target} keeps only runs "
                "that reached 24: explore more (explore.num_per_task, limit) or "
                "intent_target=reached (hindsight)"
            ),
            "no_answer": "the explorer's runs end without an answer; explore more",
        }

    # -- ground truth --------------------------------------------------------------------
    def prepare(self, trajectories: Sequence[Trajectory]) -> None:
        self._by_task = {}
        for t in trajectories:
            self._by_task.setdefault(t.task_id, []).append(t)

    def _reached(self, traj: Trajectory) -> Fraction | None:
        nums, answer = _numbers(traj), _answer(traj)
        if nums is None or answer is None:
            return None
        return evaluate(nums, answer)

    def _positive(
        self, source: Trajectory, target: Fraction, raw_intent: str | None = None
    ) -> Trajectory:
        nums = _numbers(source)
        assert nums is not None
        meta = {
            **source.meta,
            "source": source.id,
            "numbers": nums,
            "target": fmt(target),
            "hindsight": target != 24,
        }
        if raw_intent is not None:
            meta["llm_intent"] = raw_intent
        return replace(
            source,
            intent=make_intent(nums, fmt(target)),
            steps=[s for s in source.steps if not s.info.get("invalid")],
            score=1.0,
            success=True,
            meta=meta,
        )

    def _rng(self, source: Trajectory) -> random.Random:
        return random.Random(derive_seed(self.seed, "backward", source.id))

    def _backward_positive(
        self, source: Trajectory, tree: Expr, raw_puzzle: str | None = None
    ) -> Trajectory:
        """The positive for a backward-written puzzle: its forward steps and answer line, in
        the explorer's format (observations empty, as in the synthetic negatives; the Game of
        24 reward model reads actions only)."""
        nums = sorted(tree.leaves())
        actions = [*linearize(tree), self._answer_line(tree, Fraction(TARGET))]
        meta: dict[str, object] = {"source": source.id, "numbers": nums, "target": fmt(TARGET)}
        if raw_puzzle is not None:
            meta["llm_puzzle"] = raw_puzzle
        return Trajectory(
            id=f"{source.id}~backward",
            benchmark=source.benchmark,
            task_id=f"backward:{source.id}",
            intent=make_intent(nums),
            initial_observation=f"Input: {' '.join(str(n) for n in nums)}",
            steps=[Step(a, "", 0.0, i == len(actions) - 1) for i, a in enumerate(actions)],
            score=1.0,
            success=True,
            meta={**meta, "backward": True},
        )

    def hindsight(self, source: Trajectory) -> Trajectory | str:
        if self.positives == "backward":
            return self._backward_positive(source, backward_puzzle(self._rng(source)))
        if _numbers(source) is None:
            return "unparseable_input"
        if _answer(source) is None:
            return "no_answer"
        value = self._reached(source)
        if value is None:
            return "invalid_answer"
        if self.intent_target == "24" and value != 24:
            return "not_success"
        return self._positive(source, value)

    def _target(self, positive: Trajectory) -> Fraction:
        return Fraction(positive.meta["target"])

    def validate_positive(self, positive: Trajectory) -> str | None:
        answer = _answer(positive)
        nums = positive.meta.get("numbers")
        if answer is None or nums is None or not check_answer(nums, answer, self._target(positive)):
            return "positive_check_failed"
        return None

    def validate_negative(self, positive: Trajectory, negative: Trajectory) -> str | None:
        if not negative.steps:
            return "empty_negative"
        answer = _answer(negative)
        if answer is not None and check_answer(
            positive.meta["numbers"], answer, self._target(positive)
        ):
            return "negative_is_correct"
        if [s.action for s in negative.steps] == [s.action for s in positive.steps]:
            return "same_as_positive"
        return None

    # -- negatives -----------------------------------------------------------------------
    def negative_kinds(self) -> list[str]:
        return list(self.kinds)

    def _negative(
        self, positive: Trajectory, kind: str, actions: list[str], tag: str
    ) -> Trajectory:
        steps = [Step(a, "", 0.0, i == len(actions) - 1) for i, a in enumerate(actions)]
        return Trajectory(
            id=f"{positive.id}~{tag}",
            benchmark=positive.benchmark,
            task_id=positive.task_id,
            intent=positive.intent,
            initial_observation=positive.initial_observation,
            steps=steps,
            score=0.0,
            success=False,
            meta={"synthetic": True, "negative_kind": kind},
        )

    def natural_negatives(
        self, positive: Trajectory, k: int, rng: random.Random
    ) -> list[Trajectory]:
        if k <= 0 or positive.meta.get("backward"):
            return []
        target = self._target(positive)
        source_id = positive.meta.get("source", positive.id)
        pool = [
            t
            for t in self._by_task.get(positive.task_id, [])
            if t.id != source_id and t.done and self._reached(t) != target
        ]
        picks = rng.sample(pool, min(k, len(pool)))
        return [
            replace(
                t,
                id=f"{positive.id}~natural:{t.id}",
                intent=positive.intent,
                steps=[s for s in t.steps if not s.info.get("invalid")],
                score=0.0,
                success=False,
                meta={"negative_kind": "natural", "source": t.id},
            )
            for t in picks
        ]

    def rule_negative(
        self, positive: Trajectory, kind: str, rng: random.Random
    ) -> Trajectory | str:
        answer = _answer(positive)
        tree = parse_expression(answer) if answer else None
        if tree is None:
            return "positive_unparseable"
        target = self._target(positive)
        nums: list[int] = positive.meta["numbers"]
        make = {
            "hallucinated_number": self._hallucinated,
            "missing_number": self._missing,
            "wrong_arithmetic": self._wrong_arithmetic,
            "bad_format": self._bad_format,
        }[kind]
        actions = make(tree, target, nums, rng)
        if actions is None:
            return f"cannot_make_{kind}"
        return self._negative(positive, kind, actions, kind)

    def _answer_line(self, tree: Expr, target: Fraction) -> str:
        return f"Answer: {tree.render()} = {fmt(target)}"

    def _hallucinated(
        self, tree: Expr, target: Fraction, nums: list[int], rng: random.Random
    ) -> list[str] | None:
        leaves = _leaf_nodes(tree)
        leaf = rng.choice(leaves)
        choices = [h for h in range(1, 14) if h not in nums]
        rng.shuffle(choices)
        for h in choices:
            try:
                new = _replace_node(tree, leaf, Expr(None, Fraction(h)))
            except ZeroDivisionError:
                continue
            return [*linearize(new), self._answer_line(new, target)]
        return None

    def _missing(
        self, tree: Expr, target: Fraction, nums: list[int], rng: random.Random
    ) -> list[str] | None:
        # Replace a node whose child is a leaf by its other child: one number disappears.
        candidates = [
            n
            for n in _internal(tree)
            if (n.left is not None and n.left.op is None)
            or (n.right is not None and n.right.op is None)
        ]
        rng.shuffle(candidates)
        for node in candidates:
            assert node.left is not None and node.right is not None
            keep = node.right if node.left.op is None else node.left
            try:
                new = _replace_node(tree, node, keep)
            except ZeroDivisionError:
                continue
            return [*linearize(new), self._answer_line(new, target)]
        return None

    def _wrong_arithmetic(
        self, tree: Expr, target: Fraction, nums: list[int], rng: random.Random
    ) -> list[str] | None:
        nodes = _internal(tree)
        rng.shuffle(nodes)
        for node in nodes:
            assert node.left is not None and node.right is not None and node.op is not None
            ops = [o for o in "+-*/" if o != node.op]
            rng.shuffle(ops)
            for op in ops:
                try:
                    changed = combine(op, node.left, node.right)
                    new = _replace_node(tree, node, changed)
                except ZeroDivisionError:
                    continue
                if new.value == target:
                    continue
                # The changed step still states the old result; later steps build on it.
                try:
                    lines = linearize(new, {id(changed): node.value})
                except ZeroDivisionError:
                    continue
                return [*lines, self._answer_line(new, target)]
        return None

    def _bad_format(
        self, tree: Expr, target: Fraction, nums: list[int], rng: random.Random
    ) -> list[str] | None:
        steps = linearize(tree)
        variant = rng.randrange(4)
        if variant == 0:  # no answer line
            return steps
        if variant == 1:  # an answer without an expression
            return [*steps, f"Answer: {fmt(target)}"]
        if variant == 2:  # unbalanced parentheses
            return [*steps, f"Answer: ({tree.render()} = {fmt(target)}"]
        # the answer written in intermediate values instead of the input numbers
        last = steps[-1].split(" (left:")[0] if steps else fmt(target)
        return [*steps, f"Answer: {last.split(' = ')[0]} = {fmt(target)}"]

    # -- LLM strategy --------------------------------------------------------------------
    def intent_prompt(self, source: Trajectory) -> Prompt:
        if self.positives == "backward":
            examples = list(self._backward_examples)
            self._rng(source).shuffle(examples)  # distinct prompts, as distinct as ARMAP's samples
            content = self._backward_tpl.substitute(examples="\n\n".join(examples))
            return [{"role": "user", "content": content}]
        content = self._intent_tpl.substitute(
            input=source.initial_observation.removeprefix("Input:").strip(),
            steps=_steps_text(source),
        )
        return [{"role": "user", "content": content}]

    def parse_intent(self, text: str, source: Trajectory) -> Trajectory | str:
        text = text[:MAX_INTENT_TEXT] if isinstance(text, str) else ""
        if self.positives == "backward":
            return self._parse_puzzle(text, source)
        m = _INTENT_NUMS_RE.search(text)
        t = _INTENT_TARGET_RE.search(text, m.end()) if m else None
        if m is None or t is None:
            return "intent_unparseable"
        try:
            stated = sorted(int(x) for x in re.findall(r"-?\d+", m.group("nums")))
            target = Fraction(t.group("target"))
        except (ValueError, ZeroDivisionError):
            return "intent_unparseable"
        nums, reached = _numbers(source), self._reached(source)
        if nums is None or reached is None:
            return "no_answer"
        if stated != sorted(nums) or target != reached:
            return "intent_mismatch"
        if self.intent_target == "24" and target != 24:
            return "not_success"
        return self._positive(source, target, raw_intent=text.strip())

    def _parse_puzzle(self, text: str, source: Trajectory) -> Trajectory | str:
        """A backward-written puzzle: the first ``Expression:`` line, whose numbers must be the
        ``Numbers:`` line's (ARMAP's check), four of them, each 1-13; the value is checked by
        :meth:`validate_positive`."""
        expr, listed = _EXPRESSION_LINE.search(text), _NUMBERS_LINE.search(text)
        tree = parse_expression(expr.group("expr")) if expr else None
        if tree is None or listed is None:
            return "puzzle_unparseable"
        nums = sorted(tree.leaves())
        if nums != sorted(int(x) for x in re.findall(r"\d+", listed.group("nums"))):
            return "puzzle_numbers_mismatch"
        if len(nums) != PUZZLE_SIZE or not all(1 <= n <= PUZZLE_MAX for n in nums):
            return "puzzle_not_four_numbers_1_to_13"
        if tree.value != TARGET:
            return "puzzle_not_24"
        return self._backward_positive(source, tree, raw_puzzle=text.strip())

    def negative_prompt(self, positive: Trajectory, kind: str) -> Prompt:
        content = self._negative_tpl.substitute(
            input=" ".join(str(n) for n in positive.meta["numbers"]),
            target=positive.meta["target"],
            error=_KIND_TEXT[kind],
        )
        return [{"role": "user", "content": content}]

    def parse_negative(self, text: str, positive: Trajectory, kind: str) -> Trajectory | str:
        actions = self._agent.parse(text).actions
        if not actions:
            return "negative_unparseable"
        return self._negative(positive, kind, actions, f"llm-{kind}")
