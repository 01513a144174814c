"""Triplet synthesis: explored trajectories -> (intent, positive, negative).

Two strategies, each a generic class that works on any benchmark through the benchmark's
:class:`SynthesisKit` (``benchmark.synthesis_kit`` in the config):

- ``rule`` (:class:`~arm_exp.synthesis.rule.RuleSynthesizer`): deterministic and LLM-free.
  Hindsight intents from the environment's own ground truth, negatives by perturbing positives
  with the benchmark's error taxonomy, plus failed explored trajectories as natural negatives.
- ``llm`` (:class:`~arm_exp.synthesis.llm.LLMSynthesizer`, the paper's method): the synthesizer
  LLM reads a trajectory and writes the intent it accomplishes, then writes negatives for it.

Every output is validated by the kit (a positive must really accomplish its intent, a negative
must really fail it); what is dropped is counted per reason and reported.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from arm_exp.llm.base import Prompt
from arm_exp.types import Trajectory, Triplet, ValueLabel


@dataclass
class SourceResult:
    """What one explored trajectory yielded: triplets (or, for ``mc_values``, labelled
    prefixes), and counts of what was kept or dropped."""

    source_id: str
    triplets: list[Triplet] = field(default_factory=list)
    values: list[ValueLabel] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    def keep(self, kind: str, n: int = 1) -> None:
        self.kept[kind] = self.kept.get(kind, 0) + n


@runtime_checkable
class SynthesisKit(Protocol):
    """A benchmark's synthesis know-how. Positives carry their (possibly relabeled) intent in
    ``Trajectory.intent``; negatives carry ``meta["negative_kind"]``. Methods that can fail
    return a drop reason (a short snake_case string) instead of a trajectory; none may raise on
    model output. ``llm_intents``: whether the ``llm`` strategy has the synthesizer LLM write
    each positive's intent (hindsight labelling); False keeps the intent the trajectory was run
    for (:meth:`hindsight`), as for goals that were themselves synthesized (WebShop)."""

    benchmark: str
    llm_intents: bool

    def prepare(self, trajectories: Sequence[Trajectory]) -> None:
        """See the whole explored pool once (for natural negatives)."""

    def hindsight(self, source: Trajectory) -> Trajectory | str:
        """The positive for the intent the source accomplished, from ground truth."""

    def validate_positive(self, positive: Trajectory) -> str | None: ...

    def validate_negative(self, positive: Trajectory, negative: Trajectory) -> str | None: ...

    def natural_negatives(
        self, positive: Trajectory, k: int, rng: random.Random
    ) -> list[Trajectory]:
        """Up to ``k`` explored trajectories that fail ``positive.intent``."""

    def negative_kinds(self) -> list[str]:
        """The error taxonomy used for synthetic negatives."""

    def rule_negative(
        self, positive: Trajectory, kind: str, rng: random.Random
    ) -> Trajectory | str:
        """A synthetic negative of ``kind`` made by perturbing ``positive``."""

    def intent_prompt(self, source: Trajectory) -> Prompt: ...

    def parse_intent(self, text: str, source: Trajectory) -> Trajectory | str:
        """The positive for the LLM-written intent ``text``, if it holds for the source."""

    def negative_prompt(self, positive: Trajectory, kind: str) -> Prompt: ...

    def parse_negative(self, text: str, positive: Trajectory, kind: str) -> Trajectory | str: ...


@runtime_checkable
class Synthesizer(Protocol):
    batch_size: int

    def prepare(self, trajectories: Sequence[Trajectory]) -> None: ...

    def synthesize(self, batch: Sequence[Trajectory]) -> list[SourceResult]: ...

    def counters(self) -> dict[str, float]: ...


# Drop reasons any strategy can give, and what controls each (a kit adds its own through an
# optional ``drop_knobs`` mapping, with its current values): named when a run keeps few triplets.
COMMON_DROP_KNOBS = {
    "duplicate": "explore more distinct runs (explore.num_per_task, limit)",
    "no_valid_negative": (
        "synthesis.negatives_per_positive / synthesis.natural_negatives, or explore runs that "
        "score lower than the positives"
    ),
    "empty_trajectory": "the explorer: its trajectories have no steps",
    "episode_error": "the explorer: its episodes ended in an error (see the explore run's log)",
}


def checked_positive(
    kit: SynthesisKit, parsed: Trajectory | str, res: SourceResult
) -> Trajectory | None:
    """``parsed`` (a positive, or the reason there is none) if the kit accepts it as a positive;
    else None, with the reason dropped into ``res``."""
    if isinstance(parsed, str):
        res.drop(parsed)
        return None
    reason = kit.validate_positive(parsed)
    if reason:
        res.drop(reason)
        return None
    return parsed


def drop_knob(kit: object, reason: str) -> str | None:
    """What controls drop ``reason`` (:data:`COMMON_DROP_KNOBS`, then the kit's ``drop_knobs``)."""
    return {**COMMON_DROP_KNOBS, **getattr(kit, "drop_knobs", {})}.get(reason)


def make_triplet(
    source_id: str, index: int, positive: Trajectory, negative: Trajectory, strategy: str
) -> Triplet:
    return Triplet(
        id=f"{source_id}|{index}",
        benchmark=positive.benchmark,
        intent=positive.intent,
        positive=positive,
        negative=negative,
        meta={
            "strategy": strategy,
            "source": source_id,
            "negative_kind": negative.meta.get("negative_kind", "unknown"),
        },
    )
