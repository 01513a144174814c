"""The ``llm`` strategy (ARMAP's): the synthesizer LLM writes intents and negatives.

Per batch of source trajectories: one batched ``generate`` for the hindsight intents (greedy:
the intent is a fact about the trajectory; skipped for kits with ``llm_intents = False``, whose
positives keep the goal they were run on, as ARMAP's WebShop data does), one for all negatives
(sampled, one request per (positive, error kind)). The kit parses and validates every answer;
failures are dropped and counted, or, with ``rule_fallback``, replaced by the rule strategy's
output for that slot (counted separately), which keeps weak CPU models useful for plumbing runs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from arm_exp.llm.base import LLM
from arm_exp.rollout import derive_seed
from arm_exp.synthesis.base import SourceResult, SynthesisKit, checked_positive, make_triplet
from arm_exp.synthesis.rule import fill_kinds
from arm_exp.types import Trajectory


class LLMSynthesizer:
    """Args:
    kit: the benchmark's synthesis kit (prompts, parsers, validators).
    llm: the synthesizer LLM (``synthesizer_llm``; the same as ``llm`` unless chosen).
    negatives_per_positive: LLM-written negatives per positive.
    natural_negatives: failed explored trajectories added per positive (0 = LLM only).
    temperature / top_p / max_tokens: sampling of the negatives.
    rule_fallback: replace an unusable LLM answer by the rule strategy's (counted).
    seed: base seed for sampling and for the order of error kinds.
    batch_size: sources per batched LLM round.
    """

    strategy = "llm"

    def __init__(
        self,
        kit: SynthesisKit,
        llm: LLM,
        negatives_per_positive: int = 4,
        natural_negatives: int = 0,
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_tokens: int = 160,
        intent_max_tokens: int = 64,
        rule_fallback: bool = False,
        seed: int = 0,
        batch_size: int = 32,
    ) -> None:
        if negatives_per_positive + natural_negatives <= 0:
            raise ValueError("synthesis: no negatives requested (both counts are 0)")
        self.kit = kit
        self.llm = llm
        self.negatives_per_positive = negatives_per_positive
        self.natural_negatives = natural_negatives
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.intent_max_tokens = intent_max_tokens
        self.rule_fallback = rule_fallback
        self.seed = seed
        self.batch_size = batch_size
        self._rounds = 0

    def prepare(self, trajectories: Sequence[Trajectory]) -> None:
        self.kit.prepare(trajectories)

    def synthesize(self, batch: Sequence[Trajectory]) -> list[SourceResult]:
        results = [SourceResult(s.id) for s in batch]
        rngs = [random.Random(derive_seed(self.seed, "synthesis", s.id)) for s in batch]
        seed = derive_seed(self.seed, "llm-round", self._rounds) % (2**31)
        self._rounds += 1
        intents = self._intent_texts(batch, seed)
        positives = [
            self._positive(s, text, res)
            for s, text, res in zip(batch, intents, results, strict=True)
        ]
        slots = self._negative_slots(positives, rngs)
        texts = self._negative_texts(slots, seed + 1)
        negatives = self._negatives(positives, slots, texts, results, rngs)
        for positive, negs, res in zip(positives, negatives, results, strict=True):
            if positive is not None:
                self._pair(positive, negs, res)
        return results

    def _intent_texts(self, batch: Sequence[Trajectory], seed: int) -> list[str | None]:
        """1. The hindsight intents the LLM writes, one batched call; None for every source of a
        kit whose intents are the tasks' own goals (WebShop's synthesized goals): no call."""
        if not self.kit.llm_intents:
            return [None] * len(batch)
        gens = self.llm.generate(
            [self.kit.intent_prompt(s) for s in batch],
            # greedy: a hindsight intent is a fact about the trajectory; a kit that has the
            # LLM write new tasks instead (Game of 24's backward puzzles) samples them
            temperature=getattr(self.kit, "intent_temperature", 0.0),
            max_tokens=self.intent_max_tokens,
            seed=seed,
        )
        return [g.texts[0] for g in gens]

    def _positive(
        self, source: Trajectory, text: str | None, res: SourceResult
    ) -> Trajectory | None:
        """The positive for ``source`` under the intent ``text`` (the kit's hindsight one for
        None), checked against the trajectory; None with the reason dropped."""
        parsed = self.kit.hindsight(source) if text is None else self.kit.parse_intent(text, source)
        if isinstance(parsed, str) and text is not None and self.rule_fallback:
            res.keep(f"intent_rule_fallback_after_{parsed}")
            parsed = self.kit.hindsight(source)
        return checked_positive(self.kit, parsed, res)

    def _negative_slots(
        self, positives: list[Trajectory | None], rngs: list[random.Random]
    ) -> list[tuple[Trajectory, int, str]]:
        """2. What to ask the LLM for: one (positive, its index, error kind) per negative."""
        slots: list[tuple[Trajectory, int, str]] = []
        for i, positive in enumerate(positives):
            if positive is not None:
                # a kit without rule error kinds (WebShop's pairs) still gets LLM-edited ones
                taxonomy = self.kit.negative_kinds() or ["edited"]
                kinds = fill_kinds(taxonomy, self.negatives_per_positive, rngs[i])
                slots += [(positive, i, k) for k in kinds]
        return slots

    def _negative_texts(self, slots: list[tuple[Trajectory, int, str]], seed: int) -> list[str]:
        """The LLM's answer to every slot, all in one batched (sampled) call."""
        if not slots:
            return []
        gens = self.llm.generate(
            [self.kit.negative_prompt(positive, k) for positive, _, k in slots],
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=seed,
        )
        return [g.texts[0] for g in gens]

    def _negatives(
        self,
        positives: list[Trajectory | None],
        slots: list[tuple[Trajectory, int, str]],
        texts: list[str],
        results: list[SourceResult],
        rngs: list[random.Random],
    ) -> list[list[Trajectory]]:
        """The valid negatives of each positive: its natural ones, then the LLM-written ones."""
        negatives: list[list[Trajectory]] = [[] for _ in positives]
        for i, positive in enumerate(positives):
            if positive is not None:
                for natural in self.kit.natural_negatives(
                    positive, self.natural_negatives, rngs[i]
                ):
                    self._accept(positive, natural, results[i], negatives[i])
        for (positive, i, kind), text in zip(slots, texts, strict=True):
            written = self._written_negative(text, positive, kind, results[i], rngs[i])
            if written is not None:
                self._accept(positive, written, results[i], negatives[i])
        return negatives

    def _written_negative(
        self, text: str, positive: Trajectory, kind: str, res: SourceResult, rng: random.Random
    ) -> Trajectory | None:
        """The negative of ``kind`` the LLM wrote in ``text`` or, for an unusable answer with
        ``rule_fallback``, the rule strategy's; None with the reason dropped."""
        written = self.kit.parse_negative(text, positive, kind)
        reason = (
            written if isinstance(written, str) else self.kit.validate_negative(positive, written)
        )
        if reason and self.rule_fallback:
            res.keep(f"negative_rule_fallback_after_{reason}")
            written = self.kit.rule_negative(positive, kind, rng)
        elif reason:
            res.drop(reason)
            return None
        if isinstance(written, str):
            res.drop(written)
            return None
        return written

    def _pair(self, positive: Trajectory, negatives: list[Trajectory], res: SourceResult) -> None:
        """One triplet per negative of ``positive``, counted by kind."""
        for neg in negatives:
            res.triplets.append(
                make_triplet(res.source_id, len(res.triplets), positive, neg, self.strategy)
            )
            res.keep(neg.meta.get("negative_kind", "unknown"))
        if not res.triplets:
            res.drop("no_valid_negative")

    def _accept(
        self, positive: Trajectory, negative: Trajectory, res: SourceResult, out: list[Trajectory]
    ) -> None:
        reason = self.kit.validate_negative(positive, negative)
        if reason:
            res.drop(reason)
        else:
            out.append(negative)

    def counters(self) -> dict[str, float]:
        return self.llm.counters()
