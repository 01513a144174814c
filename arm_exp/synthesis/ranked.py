"""A synthesis kit for benchmarks with graded scores (ScienceWorld, WebShop, ALFWorld).

Ground truth here is the environment's own score, so the rule strategy ranks trajectories of
the same task by it. Two ways to pair them:

- ``pairs=True`` (ARMAP's WebShop data, ``Eval/webshop/data_generation/data_modules.py:
  225-239``): the runs of a task are paired off in input order, (1st, 2nd), (3rd, 4th), ...;
  in each pair the run with the higher reward is the positive and the other its one negative
  (``natural``); a tie gives nothing. ARMAP pairs the runs of two policies of different
  strength on each goal: explore each policy once per goal and concatenate the two
  ``trajectories.jsonl`` files goal by goal (or explore one policy with
  ``explore.num_per_task=2``, two runs of one policy);
- ``pairs=False``: positive: an explored trajectory with score >= ``min_positive_score``, for
  the task it was run on (the env's own intent); ``natural`` negatives: trajectories of the same
  task whose score is lower by at least ``margin``.

Either way, with ``truncated_negatives``:

- ``truncated`` negatives: the positive cut before its last ``1..k`` steps, kept only if the score
  it had reached there (recorded by the env on each step) is lower by at least ``margin``: a
  plausible-looking attempt that stops short. Not in ARMAP; on WebShop it is a shortcut (a
  trajectory without a purchase scores 0) that says nothing about ranking complete purchases;
- the ``llm`` strategy: the synthesizer LLM writes the task description the trajectory
  accomplishes (ScienceWorld's hindsight labelling; prompt per benchmark in
  ``synthesis/prompts/<benchmark>/``) and an edited trajectory that fails that task.

LLM-written intents and negatives cannot be checked against the environment without replaying
them, so they are validated for form (non-empty, bounded, not identical to the positive) and
counted; the rule strategy's outputs are validated against recorded scores.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from string import Template

from arm_exp.llm.base import Prompt
from arm_exp.types import Step, Trajectory, shown_observations

# Matched against stripped lines: a lazy body before `\s*$` is quadratic on whitespace runs.
_ACTION = re.compile(r"^(?:\d+[.)]\s*)?(?:action|act)\s*:\s*(?P<a>.+)$", re.I)
_OBS = re.compile(r"^(?:observation|obs)\s*:\s*(?P<o>.*)$", re.I)
_TASK = re.compile(r"^\s*(?:task(?: description)?|instruction)\s*:\s*", re.I)
MAX_INTENT_CHARS = 600
MAX_STEPS_TEXT = 40
MAX_NEGATIVE_TEXT = 20_000  # 40 action/observation pairs; a runaway generation is cut


def _template(benchmark: str, name: str) -> Template:
    path = resources.files("arm_exp.synthesis").joinpath(f"prompts/{benchmark}/{name}.txt")
    return Template(path.read_text(encoding="utf-8"))


def _steps_text(traj: Trajectory, limit: int = MAX_STEPS_TEXT) -> str:
    """The trajectory's turns for a synthesis prompt, without the env's verdict (the terminal
    observation, :func:`~arm_exp.types.shown_observations`)."""
    lines = []
    for s, obs in list(zip(traj.steps, shown_observations(traj), strict=True))[:limit]:
        lines.append(f"Action: {s.action}")
        if obs:
            lines.append(f"Observation: {obs[:400]}")
    return "\n".join(lines)


class ScoreRankedKit:
    """Args:
    benchmark: whose prompts to use (``synthesis/prompts/<benchmark>/``).
    min_positive_score: a positive must have reached at least this score (not with ``pairs``).
    margin: a negative must score at least this much lower than its positive (not with
        ``pairs``, where any lower reward counts, as in ARMAP).
    max_truncations: truncated negatives cut 1..this many final steps.
    pairs: pair the runs of a task off in input order, the higher reward the positive and the
        other its one negative, ties dropped (ARMAP's WebShop pairs; module docstring).
    truncated_negatives: also make truncated negatives (the rule strategy's error kind).
    """

    llm_intents = True

    def __init__(
        self,
        benchmark: str,
        min_positive_score: float = 0.5,
        margin: float = 0.1,
        max_truncations: int = 3,
        pairs: bool = False,
        truncated_negatives: bool = True,
    ) -> None:
        self.benchmark = benchmark
        self.min_positive_score = min_positive_score
        self.margin = margin
        self.max_truncations = max_truncations
        self.pairs = pairs
        self.truncated_negatives = truncated_negatives
        self.kinds = ["truncated"] if truncated_negatives else []
        self._by_task: dict[str, list[Trajectory]] = {}
        self._partner: dict[str, Trajectory] = {}
        self._intent_tpl = _template(benchmark, "intent")
        self._negative_tpl = _template(benchmark, "negative")

    def prepare(self, trajectories: Sequence[Trajectory]) -> None:
        self._by_task = {}
        for t in trajectories:
            self._by_task.setdefault(t.task_id, []).append(t)
        self._partner = {}
        for runs in self._by_task.values():
            for a, b in zip(runs[0::2], runs[1::2], strict=False):
                self._partner[a.id], self._partner[b.id] = b, a

    @property
    def drop_knobs(self) -> dict[str, str]:
        """What controls each of this kit's drop reasons (named when a run keeps few triplets)."""
        explore_more = "explore more (explore.num_per_task, limit, a stronger explorer)"
        return {
            "low_score": (
                f"benchmark.synthesis_kit.min_positive_score={self.min_positive_score}: no run "
                f"of the task scored that high; {explore_more} or lower it"
            ),
            "tie_or_better": (
                f"benchmark.synthesis_kit.margin={self.margin}: the other runs of the task "
                "score too close to the positive; explore more runs per task or lower it"
            ),
            "unpaired": (
                "benchmark.synthesis_kit.pairs=true pairs two runs of a task: "
                "explore.num_per_task=2 (or pairs=false)"
            ),
            "tie_in_pair": f"both runs of a pair scored the same (ARMAP drops ties); {explore_more}",
            "cannot_make_truncated": (
                f"benchmark.synthesis_kit.max_truncations={self.max_truncations} / margin: the "
                "positive's score was reached too late to cut"
            ),
        }

    # -- rule ----------------------------------------------------------------------------
    def hindsight(self, source: Trajectory) -> Trajectory | str:
        if not source.steps:
            return "empty_trajectory"
        if source.meta.get("stop_reason") == "error":
            return "episode_error"
        if self.pairs:
            partner = self._partner.get(source.id)
            if partner is None:
                return "unpaired"
            if source.score == partner.score:
                return "tie_in_pair"  # ARMAP drops ties
            if source.score < partner.score:
                return "lower_in_pair"  # the pair's negative, taken with its positive
        elif source.score < self.min_positive_score:
            return "low_score"
        return replace(source, meta={**source.meta, "source": source.id, "hindsight": False})

    def validate_positive(self, positive: Trajectory) -> str | None:
        if not positive.steps:
            return "empty_trajectory"
        if self.pairs or positive.score >= self.min_positive_score:
            return None
        return "low_score"

    def validate_negative(self, positive: Trajectory, negative: Trajectory) -> str | None:
        if not negative.steps:
            return "empty_negative"
        if [s.action for s in negative.steps] == [s.action for s in positive.steps]:
            return "same_as_positive"
        synthetic_llm = negative.meta.get("negative_kind", "").startswith("llm")
        margin = 0.0 if self.pairs else self.margin
        if not synthetic_llm and (
            negative.score >= positive.score or negative.score > positive.score - margin
        ):
            return "tie_or_better"  # ties dropped, as ARMAP does
        return None

    def natural_negatives(
        self, positive: Trajectory, k: int, rng: random.Random
    ) -> list[Trajectory]:
        if k <= 0:
            return []
        source_id = positive.meta.get("source", positive.id)
        if self.pairs:
            partner = self._partner.get(source_id)
            pool = [partner] if partner is not None and partner.score < positive.score else []
        else:
            pool = [
                t
                for t in self._by_task.get(positive.task_id, [])
                if t.id != source_id and t.steps and t.score <= positive.score - self.margin
            ]
        picks = rng.sample(pool, min(k, len(pool)))
        return [
            replace(
                t,
                id=f"{positive.id}~natural:{t.id}",
                intent=positive.intent,
                meta={**t.meta, "negative_kind": "natural", "source": t.id},
            )
            for t in picks
        ]

    def negative_kinds(self) -> list[str]:
        """``["truncated"]``, or none with ``truncated_negatives=False``."""
        return list(self.kinds)

    def rule_negative(
        self, positive: Trajectory, kind: str, rng: random.Random
    ) -> Trajectory | str:
        if kind != "truncated":
            return f"unknown_kind_{kind}"
        cuts = list(range(1, min(self.max_truncations, len(positive.steps) - 1) + 1))
        rng.shuffle(cuts)
        for cut in cuts:
            steps = positive.steps[:-cut]
            reached = float(steps[-1].info.get("score", 0.0)) if steps else 0.0
            if reached <= positive.score - self.margin:
                return replace(
                    positive,
                    id=f"{positive.id}~truncated{cut}",
                    steps=[replace(s) for s in steps],
                    score=reached,
                    success=False,
                    meta={"negative_kind": "truncated", "cut": cut, "source": positive.id},
                )
        return "cannot_make_truncated"

    # -- llm -----------------------------------------------------------------------------
    def intent_prompt(self, source: Trajectory) -> Prompt:
        text = self._intent_tpl.substitute(
            first=source.initial_observation[:1500], steps=_steps_text(source)
        )
        return [{"role": "user", "content": text}]

    def parse_intent(self, text: str, source: Trajectory) -> Trajectory | str:
        text = text[: 4 * MAX_INTENT_CHARS] if isinstance(text, str) else ""
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        if not lines:
            return "intent_empty"
        intent = _TASK.sub("", lines[0]).strip().strip('"')
        if not intent or len(intent) > MAX_INTENT_CHARS:
            return "intent_unparseable"
        if not source.steps:
            return "empty_trajectory"
        return replace(
            source,
            intent=intent,
            score=1.0,
            success=True,
            meta={
                **source.meta,
                "source": source.id,
                "hindsight": True,
                "original_intent": source.intent,
            },
        )

    def negative_prompt(self, positive: Trajectory, kind: str) -> Prompt:
        text = self._negative_tpl.substitute(
            intent=positive.intent,
            first=positive.initial_observation[:1500],
            steps=_steps_text(positive),
        )
        return [{"role": "user", "content": text}]

    def parse_negative(self, text: str, positive: Trajectory, kind: str) -> Trajectory | str:
        steps: list[Step] = []
        text = text[:MAX_NEGATIVE_TEXT] if isinstance(text, str) else ""
        for line in text.splitlines()[: 4 * MAX_STEPS_TEXT]:
            line = line.strip()
            if m := _ACTION.match(line):
                steps.append(Step(m.group("a")[:300], ""))
            elif (m := _OBS.match(line)) and steps and not steps[-1].observation:
                steps[-1].observation = m.group("o")[:1000]
        if not steps:
            return "negative_unparseable"
        steps[-1].done = True
        return Trajectory(
            id=f"{positive.id}~llm-edit",
            benchmark=positive.benchmark,
            task_id=positive.task_id,
            intent=positive.intent,
            initial_observation=positive.initial_observation,
            steps=steps,
            score=0.0,
            success=False,
            meta={"synthetic": True, "negative_kind": "llm_edited"},
        )
