"""Scorers other than the reward model: the oracle, Game of 24's prefix oracle and the policy
as its own judge."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from fractions import Fraction

from arm_exp.llm.base import LLM, USAGE_KEYS, backend_counters, usage
from arm_exp.reward.render import Renderer
from arm_exp.rollout import derive_seed
from arm_exp.tally import charge
from arm_exp.types import Trajectory


class OracleScorer:
    """The environment's own score of a trajectory (its benchmark metric so far, in [0, 1]).

    An upper bound for what a reward model can do. ``threshold`` is the success score: the
    oracle knows when an attempt succeeded.
    """

    def __init__(self, success_score: float = 1.0) -> None:
        self.success_score = success_score
        self._lock = threading.Lock()
        self._counters = {"oracle_calls": 0.0, "oracle_items": 0.0}

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        with self._lock:
            self._counters["oracle_calls"] += 1
            self._counters["oracle_items"] += len(trajectories)
        charge(oracle_calls=1, oracle_items=len(trajectories))
        return [float(t.score) for t in trajectories]

    def threshold(self, quantile: float, of: str = "negative") -> float:
        return self.success_score

    def unit(self, scores: Sequence[float]) -> list[float]:
        """The benchmark's score already is in [0, 1]."""
        return [float(s) for s in scores]

    def counters(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counters)


class Game24PrefixOracle(OracleScorer):
    """Game of 24's exact prefix value (beyond ARMAP): 1 if the numbers left after the
    trajectory's last step can still make 24 (exhaustive search over every pair and
    operation, memoized), else 0; a finished trajectory scores its outcome. The ceiling for a
    step-level search, where the outcome oracle is 0 on every unfinished prefix. Trajectories
    of another benchmark are refused."""

    def __init__(self, success_score: float = 1.0, target: int = 24) -> None:
        super().__init__(success_score)
        self.target = Fraction(target)
        self._reachable: dict[tuple[Fraction, ...], bool] = {}

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        super().score(intents, trajectories)  # counted as the oracle's calls
        return [self._value(t) for t in trajectories]

    def _value(self, t: Trajectory) -> float:
        if not t.benchmark.startswith("game24"):
            raise ValueError(
                f"scorer=prefix_oracle knows Game of 24 only; trajectory {t.id} is {t.benchmark}"
            )
        if t.done:
            return float(t.score)
        if t.steps:
            left = [str(x) for x in t.steps[-1].info.get("left", [])]
        else:
            left = t.initial_observation.removeprefix("Input:").split()
        return 1.0 if self.reachable(tuple(sorted(Fraction(x) for x in left))) else 0.0

    def reachable(self, numbers: tuple[Fraction, ...]) -> bool:
        """Whether some sequence of steps on the sorted ``numbers`` leaves exactly the target."""
        with self._lock:
            known = self._reachable.get(numbers)
        if known is not None:
            return known
        if len(numbers) <= 1:
            found = numbers == (self.target,)
        else:
            found = any(
                self.reachable(tuple(sorted((*rest, value))))
                for i in range(len(numbers))
                for j in range(i + 1, len(numbers))
                for rest in [numbers[:i] + numbers[i + 1 : j] + numbers[j + 1 :]]
                for value in _results(numbers[i], numbers[j])
            )
        with self._lock:
            self._reachable[numbers] = found
        return found


def _results(a: Fraction, b: Fraction) -> list[Fraction]:
    """Every value one step can make of ``a`` and ``b``."""
    out = [a + b, a * b, a - b, b - a]
    if b != 0:
        out.append(a / b)
    if a != 0:
        out.append(b / a)
    return out


_YES = re.compile(r"\b(yes|no)\b", re.I)
_JUDGE_CHARS = 500  # the verdict opens the answer; the rest of a runaway answer is not read


class PolicyJudgeScorer:
    """The policy LLM rates a trajectory (ARMAP's "LLM as its own judge" ablation).

    The trajectory is rendered exactly as for the reward model (same renderer settings as the
    benchmark's), followed by the same closing question; the judge answers ``samples`` times and
    the score is the share of "yes" answers (unparseable answers count as "no").

    Each call is seeded from ``seed`` and its prompts, so a trajectory gets the same verdict
    whenever (and beside whatever) it is judged. The LLM may be the policy's own object:
    :meth:`counters` are the judge's usage (``judge_llm_calls``, ...) plus the backend's counters
    (``judge_llm_requests``, ...), and every call is charged to the calling task's tally.
    """

    def __init__(
        self,
        llm: LLM,
        observations: bool = True,
        thoughts: bool = True,
        samples: int = 3,
        temperature: float = 0.7,
        max_tokens: int = 8,
        seed: int = 0,
    ) -> None:
        self.llm = llm
        self.renderer = Renderer(observations=observations, thoughts=thoughts)
        self.samples = samples
        self.temperature = temperature if samples > 1 else 0.0
        self.max_tokens = max_tokens
        self.seed = seed
        self._lock = threading.Lock()
        self._counters: dict[str, float] = {
            "judge_calls": 0.0,
            "judge_items": 0.0,
            "judge_unparsed": 0.0,
            **{f"judge_{k}": 0 for k in USAGE_KEYS},
        }

    def prompt(self, intent: str, trajectory: Trajectory) -> list[dict[str, str]]:
        head, tail = self.renderer.render(intent, trajectory)
        return [
            {"role": "system", "content": "You judge whether an agent accomplished a task."},
            {"role": "user", "content": f"{head}\n{tail}\nReply with Yes or No."},
        ]

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        prompts = [self.prompt(i, t) for i, t in zip(intents, trajectories, strict=True)]
        started = time.perf_counter()
        gens = self.llm.generate(
            prompts,
            n=self.samples,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=derive_seed(self.seed, json.dumps(prompts, sort_keys=True)),
        )
        out = []
        unparsed = 0
        for g in gens:
            votes = []
            for text in g.texts:
                m = _YES.search((text or "")[:_JUDGE_CHARS])
                if m is None:
                    unparsed += 1
                votes.append(1.0 if m and m.group(1).lower() == "yes" else 0.0)
            out.append(sum(votes) / len(votes))
        used = {
            "judge_calls": 1,
            "judge_items": len(trajectories),
            "judge_unparsed": unparsed,
            **{f"judge_{k}": v for k, v in usage(gens, time.perf_counter() - started).items()},
        }
        with self._lock:
            for k, v in used.items():
                self._counters[k] += v
        charge(**used)
        return out

    def threshold(self, quantile: float, of: str = "negative") -> float:
        return 0.5  # a majority of "yes"

    def unit(self, scores: Sequence[float]) -> list[float]:
        """A share of "yes" answers already is in [0, 1]."""
        return [float(s) for s in scores]

    def counters(self) -> dict[str, float]:
        with self._lock:
            own = dict(self._counters)
        return {**own, **{f"judge_{k}": v for k, v in backend_counters(self.llm).items()}}
