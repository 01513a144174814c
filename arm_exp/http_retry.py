"""Bounded retries and a bound on requests in flight, for the HTTP clients of model servers.

Shared by the LLM client (:mod:`arm_exp.llm.openai_server`) and the vLLM pooling scorer
(:mod:`arm_exp.reward.vllm_pooling`), so the reward package does not depend on the LLM package.

- :class:`RetryPolicy`: failures that can pass (the caller raises :class:`Retryable` for them:
  connection refused, timeouts, HTTP 429/5xx, invalid bodies) are retried with exponential
  backoff and full jitter within a bounded total wait; each attempt's timeout is clipped to
  what is left of it. The caller turns the last failure into its own error.
- :class:`InFlight`: at most ``limit`` requests in flight per server URL over all calling
  threads (match it to the server's batch, vLLM's ``--max-num-seqs``), counted and timed:
  requests sent (retries included), retries, the most in flight at once, latency percentiles.
"""

from __future__ import annotations

import contextlib
import logging
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Server(Protocol):
    """A server process a client starts on first use and stops when done
    (:class:`arm_exp.llm.managed.ManagedServer`)."""

    base_url: str  # http://host:port
    log_path: object  # where its output goes (named in errors)

    def start(self) -> str: ...

    def alive(self) -> bool: ...

    def stop(self) -> None: ...

    def log_tail(self, n: int = 30) -> str: ...


class Retryable(Exception):
    """A failure that may pass: the request is sent again (its cause is the real error)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried.

    Args:
        timeout_s: per-attempt timeout.
        max_retries: retries after the first attempt.
        backoff_s / max_backoff_s: exponential backoff base and cap (full jitter).
        max_total_wait_s: bound on the time one request may take, retries included.
    """

    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_total_wait_s: float = 120.0

    def run(
        self,
        attempt: Callable[[float, int], T],
        what: str,
        give_up: Callable[[int, BaseException | None], Exception],
        on_retryable: Callable[[Retryable], None] | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> T:
        """``attempt(timeout_s, attempt_number)`` until it returns, or raise
        ``give_up(attempts, last_error)`` once the retries or the total wait are spent.
        ``on_retryable`` sees each retryable failure (it may raise to stop retrying: a dead
        managed server), ``on_retry`` is called before each retry (a counter); ``what`` names
        the request in the warning logged before each retry."""
        deadline = time.monotonic() + self.max_total_wait_s
        last: BaseException | None = None
        n = 0
        for n in range(self.max_retries + 1):
            # An attempt may not outlast the budget: its timeout is clipped to what is left.
            budget = max(deadline - time.monotonic(), 0.05)
            if n and on_retry is not None:
                on_retry()
            try:
                return attempt(min(self.timeout_s, budget), n)
            except Retryable as e:
                last = e.__cause__ or e
                if on_retryable is not None:
                    on_retryable(e)
            remaining = deadline - time.monotonic()
            if n == self.max_retries or remaining <= 0:
                break
            delay = random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**n))
            log.warning("%s failed (%s); retry in %.2fs", what, last, delay)
            time.sleep(min(delay, max(remaining, 0)))
        raise give_up(n + 1, last)


class InFlight:
    """At most ``limit`` requests in flight per URL (over all threads), counted and timed."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max_concurrency={limit}: must be >= 1")
        self.limit = limit
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._latencies: list[float] = []
        self.requests = 0
        self.retries = 0
        self.in_flight = 0
        self.peak = 0

    @contextlib.contextmanager
    def slot(self, url: str) -> Iterator[None]:
        """Hold one of ``url``'s slots for one attempt; its latency counts if it succeeds."""
        with self._lock:
            slots = self._slots.setdefault(url, threading.BoundedSemaphore(self.limit))
        with slots:
            with self._lock:
                self.requests += 1
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            started = time.perf_counter()
            try:
                yield
            finally:
                with self._lock:
                    self.in_flight -= 1
        with self._lock:
            self._latencies.append(time.perf_counter() - started)

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def counters(self, prefix: str) -> dict[str, float]:
        """``<prefix>_requests``, ``_retries``, ``_peak_in_flight``, ``_request_p50_s``/``p95_s``."""
        with self._lock:
            latencies = list(self._latencies)
            out = {
                f"{prefix}_requests": float(self.requests),
                f"{prefix}_retries": float(self.retries),
                f"{prefix}_peak_in_flight": float(self.peak),
            }
        out[f"{prefix}_request_p50_s"] = percentile(latencies, 50)
        out[f"{prefix}_request_p95_s"] = percentile(latencies, 95)
        return out


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation between ranks); 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])
