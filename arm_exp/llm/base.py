"""The LLM protocol every backend honours (in-process transformers, in-process vLLM, HTTP).

``generate(prompts, n, temperature, top_p, max_tokens, stop, seed) -> list[Generation]``:

- ``prompts``: a batch; each is a plain string (completion) or a list of chat messages
  ``{"role": ..., "content": ...}`` (the backend applies the model's chat template).
- returns one :class:`Generation` per prompt, in order, each with ``n`` sampled ``texts``.
- ``temperature == 0`` is greedy decoding (``n`` identical samples). ``stop`` strings end a
  sample and are not included in its text (OpenAI semantics). ``seed`` makes sampling
  reproducible for the same batch on the same backend; prompt ``i`` of a batch uses
  ``seed + i`` so identical prompts in one batch still get different samples.
- token and call counters live on the object (:meth:`counters`) and end up in stage metrics:
  the usage counters (:data:`USAGE_KEYS`, what the callers asked for) and a backend's own
  (an HTTP client's requests, retries and latency percentiles). One LLM object may serve
  several roles (the policy and its judge); each role counts its own usage with :func:`usage`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]
USAGE_KEYS = (
    "llm_calls",
    "llm_prompts",
    "llm_samples",
    "prompt_tokens",
    "completion_tokens",
    "llm_time_s",
)
Prompt = str | list[Message]


@dataclass
class Generation:
    """The ``n`` samples for one prompt and their token counts."""

    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: list[int] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    # Sum of the sampled tokens' log-probabilities per sample, when the backend was asked.
    logprobs: list[float] | None = None


@runtime_checkable
class LLM(Protocol):
    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 128,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[Generation]: ...

    def counters(self) -> dict[str, float]: ...

    def close(self) -> None: ...


def usage(gens: Sequence[Generation], seconds: float) -> dict[str, float]:
    """What one ``generate`` call that returned ``gens`` in ``seconds`` used (:data:`USAGE_KEYS`)."""
    return {
        "llm_calls": 1,
        "llm_prompts": len(gens),
        "llm_samples": sum(len(g.texts) for g in gens),
        "prompt_tokens": sum(g.prompt_tokens for g in gens),
        "completion_tokens": sum(sum(g.completion_tokens) for g in gens),
        "llm_time_s": seconds,
    }


def backend_counters(llm: LLM) -> dict[str, float]:
    """The counters of ``llm`` that belong to the backend, not to a caller's usage (requests,
    retries, latency percentiles, restarts)."""
    return {k: v for k, v in llm.counters().items() if k not in USAGE_KEYS}


@dataclass(frozen=True)
class Sampling:
    """The sampling arguments of one ``generate`` call, as a backend receives them (checked;
    ``stop`` as a tuple, None when there is none)."""

    n: int
    temperature: float
    top_p: float
    max_tokens: int
    stop: tuple[str, ...] | None
    seed: int | None

    def for_prompt(self, i: int) -> dict[str, Any]:
        """The OpenAI / vLLM sampling arguments of prompt ``i`` of the batch (seed ``seed + i``)."""
        return {
            "n": self.n,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop) if self.stop else None,
            "seed": None if self.seed is None else self.seed + i,
        }


class BaseLLM:
    """What the backends share: ``generate`` (argument checks, usage counters) around their own
    :meth:`_generate`, and thread-safe counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, float] = {k: 0 for k in USAGE_KEYS}
        self._counters["llm_time_s"] = 0.0

    @staticmethod
    def check_args(
        prompts: Sequence[Prompt], n: int, temperature: float, top_p: float, max_tokens: int
    ) -> list[Prompt]:
        if isinstance(prompts, str) or (
            isinstance(prompts, list) and prompts and isinstance(prompts[0], dict)
        ):
            raise TypeError("generate() takes a batch: a list of prompts, not a single prompt")
        if n < 1:
            raise ValueError(f"n={n}: must be >= 1")
        if temperature < 0:
            raise ValueError(f"temperature={temperature}: must be >= 0")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p={top_p}: must be in (0, 1]")
        if max_tokens < 1:
            raise ValueError(f"max_tokens={max_tokens}: must be >= 1")
        for p in prompts:
            if not isinstance(p, str | list):
                raise TypeError(f"a prompt must be a string or a list of messages, got {type(p)}")
        return list(prompts)

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 128,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[Generation]:
        """The protocol's ``generate``: checks the arguments, runs the backend's
        :meth:`_generate` and counts the call's usage."""
        prompts = self.check_args(prompts, n, temperature, top_p, max_tokens)
        started = time.perf_counter()
        sampling = Sampling(n, temperature, top_p, max_tokens, tuple(stop) if stop else None, seed)
        gens = self._generate(prompts, sampling)
        self._record(gens, started)
        return gens

    def _generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        """One :class:`Generation` per prompt, in order (arguments already checked)."""
        raise NotImplementedError

    def _record(self, gens: list[Generation], started: float) -> None:
        used = usage(gens, time.perf_counter() - started)
        with self._lock:
            for k, v in used.items():
                self._counters[k] += v

    def counters(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counters)

    def warm(self) -> None:
        """Load what the first ``generate`` would load (weights, engine); a no-op by default."""

    def close(self) -> None:
        """Release resources (servers, engines). The object may not be used afterwards."""


def truncate_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string; returns (text, whether one was found)."""
    if not stop:
        return text, False
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
