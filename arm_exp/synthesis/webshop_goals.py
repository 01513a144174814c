"""ARMAP's WebShop goal synthesis: new shopping goals written for sampled products.

ARMAP samples ~10k products outside WebShop's human test goals and, for each, picks 1-2 of the
product's annotated attributes and 0-2 of its option values at random, then has the synthesizer
LLM write a shopping instruction for them from a 10-shot prompt. The chosen attributes and
options are stored with the instruction, so WebShop's purchase reward can check a purchase
against the goal (:func:`~arm_exp.envs.webshop_data.make_product_goal`); the price bound is
sampled as WebShop samples it for human goals.

Pieces (the ``goals`` stage, :mod:`arm_exp.stages.goals`, wires them together):

- :class:`WebShopGoalGenerator` (``benchmark.goal_generator``): samples the products and the
  attribute/option choices (:class:`GoalRequest`), picks the few-shot examples from WebShop's own
  human goals, and validates each written instruction into a :class:`Goal` or a drop reason.
- writers (``goal_writer=llm|rule``): :class:`LLMInstructionWriter` (ARMAP's: the synthesizer
  LLM, 10 human goals as chat turns, T=1.0, top_p 0.9) and :class:`RuleInstructionWriter`, a
  template writer from the product's own attributes and options (labelled ``synthetic_rule``:
  not ARMAP's method; for CPU runs and as the LLM writer's optional fallback).

Validation (each failure is a counted drop reason): the text parses to one instruction line of
sane length (``empty``, ``too_short``, ``too_long``); it does not state a price (``states_price``:
the sampled bound is appended) or the asin (``mentions_asin``); it names the product type
(``missing_product_type``: a content word of the product's search query) and asks for every
chosen attribute and option value (``missing_attribute`` / ``missing_option``, WebShop's fuzzy
``token_set_ratio > 85`` against the instruction); and buying the target product with the
chosen options earns WebShop's reward 1.0 in the env (``target_reward_below_1``). Whether a
search for the instruction finds the target in the top 50 is recorded (``findable``) and, with
``require_findable``, enforced (``not_findable``; our addition, off by default).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from arm_exp.envs.webshop import WebShopEnv
from arm_exp.envs.webshop_data import (
    Goal,
    Product,
    make_product_goal,
    sample_price_upper,
)
from arm_exp.envs.webshop_reward import FUZZY_THRESHOLD, fuzzy_score
from arm_exp.llm.base import LLM, Message, Prompt
from arm_exp.rollout import derive_seed

SOURCE_LLM = "synthetic_llm"
SOURCE_RULE = "synthetic_rule"
DUMMY_ATTR = "DUMMY_ATTR"
_LABEL = re.compile(r"^\W*(?:instruction|task|goal|answer|output)\s*\d*\s*:\s*", re.I)
_PRICE = re.compile(r"\$\s*\d|\bdollars?\b|\bprice\b|\bbudget\b", re.I)
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an and the of for with in on to set pack".split())  # noqa: SIM905


@dataclass(frozen=True)
class GoalRequest:
    """What a writer is asked to write an instruction for: a product and the chosen
    attributes and options (``{option name: value}``). ``id`` is the goal's id in goals.jsonl."""

    id: str
    asin: str
    title: str
    product_type: str
    category: str
    attributes: list[str]
    options: dict[str, str] = field(default_factory=dict)
    price_upper: float = 1000000.0


@dataclass(frozen=True)
class Shot:
    """A worked example for the few-shot prompt: a human goal of WebShop's data."""

    request: GoalRequest
    instruction: str


@dataclass
class GoalOutcome:
    """One request's result: a goal, or the reason it was dropped (and what was written)."""

    request: GoalRequest
    text: str
    writer: str
    goal: Goal | None = None
    reason: str | None = None
    findable: bool | None = None
    fallback_after: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "id": self.request.id,
            "asin": self.request.asin,
            "writer": self.writer,
            "text": self.text,
            "status": "ok" if self.goal is not None else self.reason,
            "findable": self.findable,
            "fallback_after": self.fallback_after,
            "attributes": self.request.attributes,
            "options": self.request.options,
            "goal": self.goal.to_dict() if self.goal is not None else None,
        }


@runtime_checkable
class InstructionWriter(Protocol):
    """Writes one shopping instruction per request (raw text; the generator validates it).

    ``source`` labels the goals it yields (``Goal.source``); ``num_shots`` is how many human
    examples it wants; ``fallback`` is an optional writer for requests whose text failed."""

    source: str
    num_shots: int
    fallback: InstructionWriter | None

    def write(self, requests: Sequence[GoalRequest], shots: Sequence[Shot]) -> list[str]: ...

    def counters(self) -> dict[str, float]: ...

    def close(self) -> None:
        """Release the writer's LLM (a managed server stops here)."""


def describe(request: GoalRequest) -> str:
    """The request as the prompt shows it (examples and target alike)."""
    options = "; ".join(f"{k}: {v}" for k, v in request.options.items()) or "none"
    return (
        f"Product: {request.title}\nProduct type: {request.product_type}\n"
        f"Attributes: {', '.join(request.attributes)}\nOptions: {options}"
    )


SYSTEM = (
    "You write shopping instructions for an online shop, as a customer would type them. Given a "
    "product, its type, the attributes the customer cares about and the options they want, write "
    "one short instruction in lower case that asks for that type of product with every listed "
    "attribute and option. Do not name the brand, the product id or a price. Answer with the "
    "instruction only, on one line."
)


class LLMInstructionWriter:
    """ARMAP's writer: the synthesizer LLM, a few-shot chat prompt of human WebShop goals.

    Args:
        llm: the synthesizer LLM (``synthesizer_llm``).
        shots: human examples in the prompt (ARMAP: 10).
        temperature / top_p / max_tokens: sampling (ARMAP: 1.0 / 0.9 / 384).
        stop: the instruction is one line.
        seed: base seed; a batch's seed derives from it and the batch's first request id, so a
            resumed run asks for the same batches with the same seeds.
        rule_fallback: a request whose LLM text fails validation gets the rule writer's text
            instead (counted as ``fallback_after``; its goal is labelled ``synthetic_rule``).
    """

    source = SOURCE_LLM

    def __init__(
        self,
        llm: LLM,
        shots: int = 10,
        temperature: float = 1.0,
        top_p: float = 0.9,
        max_tokens: int = 384,
        stop: list[str] | None = None,
        seed: int = 0,
        rule_fallback: bool = False,
    ) -> None:
        if shots < 0:
            raise ValueError(f"goal_writer.shots={shots}: must be >= 0")
        self.llm = llm
        self.num_shots = shots
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.stop = ["\n"] if stop is None else list(stop)
        self.seed = seed
        self.fallback: InstructionWriter | None = (
            RuleInstructionWriter(seed=seed) if rule_fallback else None
        )

    def prompt(self, request: GoalRequest, shots: Sequence[Shot]) -> Prompt:
        messages: list[Message] = [{"role": "system", "content": SYSTEM}]
        for shot in shots:
            messages.append({"role": "user", "content": describe(shot.request)})
            messages.append({"role": "assistant", "content": shot.instruction})
        messages.append({"role": "user", "content": describe(request)})
        return messages

    def write(self, requests: Sequence[GoalRequest], shots: Sequence[Shot]) -> list[str]:
        if not requests:
            return []
        gens = self.llm.generate(
            [self.prompt(r, shots) for r in requests],
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            stop=self.stop or None,
            seed=derive_seed(self.seed, "goal-writer", requests[0].id) % (2**31),
        )
        return [g.texts[0] if g.texts else "" for g in gens]

    def counters(self) -> dict[str, float]:
        return self.llm.counters()

    def close(self) -> None:
        self.llm.close()


_RULE_TEMPLATES = (
    "i need {a} {type} that is {attrs}{opts}",
    "i am looking for {a} {type} which is {attrs}{opts}",
    "i want to buy {a} {type} that is {attrs}{opts}",
    "find me {a} {type} with {attrs}{opts}",
    "get me {a} {type} which is {attrs}{opts}, please",
)


class RuleInstructionWriter:
    """A template instruction from the product type and the chosen attributes and options.

    NOT ARMAP's method (the paper's instructions are LLM-written): it always names what the goal
    checks, so its goals pass validation unless the data is odd. For CPU runs and as the LLM
    writer's fallback; its goals are labelled ``synthetic_rule``.
    """

    source = SOURCE_RULE
    num_shots = 0
    fallback: InstructionWriter | None = None

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._counters = {"rule_instructions": 0.0}

    def write(self, requests: Sequence[GoalRequest], shots: Sequence[Shot]) -> list[str]:
        out = []
        for r in requests:
            rng = random.Random(derive_seed(self.seed, "rule-instruction", r.id))
            attrs = list(r.attributes)
            rng.shuffle(attrs)
            values = list(r.options.values())
            opts = f", in {' and '.join(values)}" if values else ""
            vowel = r.product_type[:1] in tuple("aeiou")
            article = "some" if r.product_type.endswith("s") else "an" if vowel else "a"
            text = rng.choice(_RULE_TEMPLATES).format(
                a=article, type=r.product_type, attrs=" and ".join(attrs), opts=opts
            )
            out.append(text)
        self._counters["rule_instructions"] += len(requests)
        return out

    def counters(self) -> dict[str, float]:
        return dict(self._counters)

    def close(self) -> None:
        pass


def parse_instruction(text: str) -> str:
    """The instruction in a writer's raw text: its first non-empty line, without a label,
    quotes or a final period, lower-cased (WebShop's instructions are lower case)."""
    for line in (text or "").splitlines():
        line = _LABEL.sub("", line.strip()).strip().strip("\"'`*").strip()
        if line:
            return " ".join(line.lower().rstrip(".!").split())
    return ""


def _mentions(phrase: str, text: str) -> bool:
    """WebShop's fuzzy test (``token_set_ratio > 85``), or a plain substring."""
    p = phrase.lower().strip()
    return bool(p) and (p in text or fuzzy_score(p, text) > FUZZY_THRESHOLD)


def _type_words(product_type: str) -> list[str]:
    return [w for w in _WORD.findall(product_type.lower()) if len(w) > 2 and w not in _STOP]


def _has_word(word: str, text_words: set[str]) -> bool:
    stems = {word, word.rstrip("s"), word + "s", word + "es"}
    return bool(stems & text_words) or any(w.rstrip("s") == word.rstrip("s") for w in text_words)


class WebShopGoalGenerator:
    """Samples goal requests from a WebShop catalog and validates written instructions.

    Args:
        env: the WebShop env (``benchmark.env``): its catalog, search engine and reward.
        exclude_splits: products of these splits' human goals are never sampled (ARMAP:
            outside WebShop's 500 test goals, ``test500``; use ``test`` on the mini catalog,
            whose 707 goals leave only 36 products outside ``test500``).
        attributes: (min, max) attributes chosen per goal (ARMAP: 1-2).
        options: (min, max) option values chosen per goal (ARMAP: 0-2; fewer if the product
            has fewer options).
        min_words / max_chars: bounds of a parseable instruction.
        require_findable: drop goals whose instruction does not retrieve the target product
            in the search's top 50 (recorded either way).
    """

    def __init__(
        self,
        env: WebShopEnv,
        exclude_splits: Sequence[str] = ("test500",),
        attributes: Sequence[int] = (1, 2),
        options: Sequence[int] = (0, 2),
        min_words: int = 3,
        max_chars: int = 300,
        require_findable: bool = False,
    ) -> None:
        self.env = env
        self.exclude_splits = list(exclude_splits)
        self.attributes = _range("attributes", attributes, lowest=1)
        self.options = _range("options", options, lowest=0)
        self.min_words = min_words
        self.max_chars = max_chars
        self.require_findable = require_findable

    # -- sampling ------------------------------------------------------------------------
    def excluded_asins(self) -> set[str]:
        """Target products of the excluded splits' human goals."""
        out: set[str] = set()
        for split in self.exclude_splits:
            out |= {self.env.goal(t).asin for t in self.env.task_ids(split)}
        return out

    def pool(self) -> list[Product]:
        """Products goals may be written for: not excluded, with annotated attributes."""
        excluded = self.excluded_asins()
        return [
            p
            for p in self.env.catalog.products
            if p.asin not in excluded and [a for a in p.Attributes if a != DUMMY_ATTR]
        ]

    def requests(self, num_products: int, per_product: int, seed: int) -> list[GoalRequest]:
        """``per_product`` requests for each of ``num_products`` products drawn (seeded, without
        replacement) from :meth:`pool`; fewer if the pool is smaller."""
        if num_products < 1 or per_product < 1:
            raise ValueError(
                f"goals.num_products={num_products}, goals.per_product={per_product}: must be >= 1"
            )
        pool = self.pool()
        rng = random.Random(derive_seed(seed, "webshop-goal-products"))
        picked = rng.sample(pool, min(num_products, len(pool)))
        out = []
        for p in picked:
            for k in range(per_product):
                out.append(self._request(p, k, random.Random(derive_seed(seed, p.asin, k))))
        return out

    def _request(self, p: Product, k: int, rng: random.Random) -> GoalRequest:
        attrs = [a for a in dict.fromkeys(p.Attributes) if a != DUMMY_ATTR]
        n_attr = rng.randint(
            min(self.attributes[0], len(attrs)), min(self.attributes[1], len(attrs))
        )
        names = [n for n, values in p.options.items() if values]
        n_opt = rng.randint(min(self.options[0], len(names)), min(self.options[1], len(names)))
        options = {n: rng.choice(p.options[n]) for n in rng.sample(names, n_opt)}
        return GoalRequest(
            id=f"syn-{p.asin}-{k}",
            asin=p.asin,
            title=p.Title,
            product_type=p.query,
            category=p.category,
            attributes=rng.sample(attrs, n_attr),
            options=options,
            price_upper=sample_price_upper(self.env.catalog.prices[p.asin], rng),
        )

    def shots(self, k: int, seed: int) -> list[Shot]:
        """``k`` human goals (instruction, attributes, options) of products in the pool, seeded."""
        if k <= 0:
            return []
        candidates = []
        for p in self.pool():
            for ins in p.instructions:
                attrs = [str(a) for a in ins.get("instruction_attributes") or []]
                text = str(ins.get("instruction") or "").strip().rstrip(".")
                if not attrs or not text:
                    continue
                options = _name_options(p, [str(v) for v in ins.get("instruction_options") or []])
                req = GoalRequest(
                    id=f"shot-{p.asin}",
                    asin=p.asin,
                    title=p.Title,
                    product_type=p.query,
                    category=p.category,
                    attributes=attrs,
                    options=options,
                )
                candidates.append(Shot(req, text))
        rng = random.Random(derive_seed(seed, "webshop-goal-shots"))
        return rng.sample(candidates, min(k, len(candidates)))

    # -- validation ----------------------------------------------------------------------
    def validate(self, request: GoalRequest, text: str, source: str) -> GoalOutcome:
        """The goal for ``text`` if it passes every check (module docstring), else the reason."""
        out = GoalOutcome(request, text, source)
        instruction = parse_instruction(text)
        reason = self._check_text(request, instruction)
        if reason is not None:
            out.reason = reason
            return out
        product = self.env.catalog.by_asin[request.asin]
        goal = make_product_goal(
            product,
            instruction,
            request.attributes,
            dict(request.options),
            price_upper=request.price_upper,
            source=source,
        )
        self.env.reset_goal(goal, request.id)
        if self.env.reward_for(request.asin, dict(request.options)).reward != 1.0:
            out.reason = "target_reward_below_1"
            return out
        out.findable = request.asin in self.env.engine.search(instruction)
        if self.require_findable and not out.findable:
            out.reason = "not_findable"
            return out
        out.goal = goal
        return out

    def _check_text(self, request: GoalRequest, instruction: str) -> str | None:
        if not instruction:
            return "empty"
        if len(instruction) > self.max_chars:
            return "too_long"
        words = set(_WORD.findall(instruction))
        if len(instruction.split()) < self.min_words:
            return "too_short"
        if _PRICE.search(instruction):
            return "states_price"
        if request.asin.lower() in instruction:
            return "mentions_asin"
        type_words = _type_words(request.product_type)
        if type_words and not any(_has_word(w, words) for w in type_words):
            return "missing_product_type"
        if not all(_mentions(a, instruction) for a in request.attributes):
            return "missing_attribute"
        if not all(_mentions(v, instruction) for v in request.options.values()):
            return "missing_option"
        return None

    def generate(
        self, requests: Sequence[GoalRequest], writer: InstructionWriter, shots: Sequence[Shot]
    ) -> list[GoalOutcome]:
        """Write and validate a batch; failed ones go to ``writer.fallback`` if it has one."""
        texts = writer.write(requests, shots)
        outcomes = [
            self.validate(r, t, writer.source) for r, t in zip(requests, texts, strict=True)
        ]
        fallback = getattr(writer, "fallback", None)
        failed = [i for i, o in enumerate(outcomes) if o.goal is None]
        if fallback is not None and failed:
            retexts = fallback.write([requests[i] for i in failed], shots)
            for i, t in zip(failed, retexts, strict=True):
                redo = self.validate(requests[i], t, fallback.source)
                redo.fallback_after = outcomes[i].reason
                outcomes[i] = redo
        return outcomes


def _range(name: str, bounds: Sequence[int], lowest: int) -> tuple[int, int]:
    lo, hi = (int(x) for x in bounds)
    if not lowest <= lo <= hi:
        raise ValueError(
            f"benchmark.goal_generator.{name}={list(bounds)}: expected [min, max] with "
            f"{lowest} <= min <= max"
        )
    return lo, hi


def _name_options(product: Product, values: list[str]) -> dict[str, str]:
    """Human goals list option values only; name each after the product option that has it."""
    out: dict[str, str] = {}
    for v in values:
        name = next(
            (n for n, vs in product.options.items() if v.lower() in vs and n not in out),
            f"option {len(out) + 1}",
        )
        out[name] = v
    return out
