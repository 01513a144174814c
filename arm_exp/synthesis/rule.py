"""The ``rule`` strategy: ground-truth hindsight intents and perturbation negatives, no LLM."""

from __future__ import annotations

import random
from collections.abc import Sequence

from arm_exp.rollout import derive_seed
from arm_exp.synthesis.base import SourceResult, SynthesisKit, checked_positive, make_triplet
from arm_exp.types import Trajectory


def fill_kinds(kinds: list[str], k: int, rng: random.Random) -> list[str]:
    """``k`` error kinds covering the taxonomy as evenly as possible, in a seeded order."""
    if not kinds or k <= 0:
        return []
    out: list[str] = []
    while len(out) < k:
        batch = list(kinds)
        rng.shuffle(batch)
        out += batch
    return out[:k]


class RuleSynthesizer:
    """Deterministic triplets: the same seed gives byte-identical ``triplets.jsonl``.

    Args:
        kit: the benchmark's synthesis kit.
        negatives_per_positive: synthetic negatives per positive (spread over the taxonomy).
        natural_negatives: at most this many failed explored trajectories per positive.
        seed: base seed; each source trajectory gets its own stream.
        batch_size: sources per call (the stage's unit of resumption).
    """

    strategy = "rule"

    def __init__(
        self,
        kit: SynthesisKit,
        negatives_per_positive: int = 4,
        natural_negatives: int = 1,
        seed: int = 0,
        batch_size: int = 256,
    ) -> None:
        if negatives_per_positive < 0 or natural_negatives < 0:
            raise ValueError("synthesis.negatives_per_positive and natural_negatives must be >= 0")
        if negatives_per_positive + natural_negatives == 0:
            raise ValueError("synthesis: no negatives requested (both counts are 0)")
        self.kit = kit
        self.negatives_per_positive = negatives_per_positive
        self.natural_negatives = natural_negatives
        self.seed = seed
        self.batch_size = batch_size

    def prepare(self, trajectories: Sequence[Trajectory]) -> None:
        self.kit.prepare(trajectories)

    def synthesize(self, batch: Sequence[Trajectory]) -> list[SourceResult]:
        return [self._one(s) for s in batch]

    def _one(self, source: Trajectory) -> SourceResult:
        res = SourceResult(source.id)
        rng = random.Random(derive_seed(self.seed, "synthesis", source.id))
        positive = checked_positive(self.kit, self.kit.hindsight(source), res)
        if positive is None:
            return res
        negatives = self.kit.natural_negatives(positive, self.natural_negatives, rng)
        for kind in fill_kinds(self.kit.negative_kinds(), self.negatives_per_positive, rng):
            neg = self.kit.rule_negative(positive, kind, rng)
            if isinstance(neg, str):
                res.drop(neg)
            else:
                negatives.append(neg)
        for neg in negatives:
            reason = self.kit.validate_negative(positive, neg)
            if reason:
                res.drop(reason)
                continue
            res.triplets.append(
                make_triplet(source.id, len(res.triplets), positive, neg, self.strategy)
            )
            res.keep(neg.meta.get("negative_kind", "unknown"))
        if not res.triplets:
            res.drop("no_valid_negative")
        return res

    def counters(self) -> dict[str, float]:
        return {}
