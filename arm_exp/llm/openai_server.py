"""HTTP backend: any OpenAI-compatible endpoint (``vllm serve``, ``arm-exp serve-llm``, OpenAI).

One request per prompt (``n`` samples each), sent concurrently through a bounded thread pool so
many episodes share the server's continuous batching. Failures that can pass (connection
refused, timeouts, HTTP 429/5xx, truncated or invalid JSON, empty ``choices``) are retried with
exponential backoff and jitter within a bounded total wait (:mod:`arm_exp.http_retry`, shared
with the vLLM pooling scorer); then a clear :class:`LLMError` names the endpoint. Several ``base_url`` values are used round-robin (data-parallel replicas).

Managed mode: the client starts its own server(s) (``vllm serve`` through
:class:`~arm_exp.llm.managed.ManagedServer`, or several :func:`~arm_exp.llm.managed.replicas`)
on first use and stops them on :meth:`close`. A managed server that dies mid-run is restarted
(at most ``max_restarts`` times per client) and the requests it dropped are sent again with the
same seeds, so a run loses nothing and duplicates nothing; past the budget a clear
:class:`LLMError` carries the server log's tail.

Token counts: the server's ``usage`` gives prompt and completion totals. A server that returns
each choice's ``token_ids`` (vLLM with ``extra_body: {return_token_ids: true}``, as our vLLM
configs set) gives exact per-sample counts; otherwise the total is split evenly over the samples.

The API key is read from the environment variable named by ``api_key_env`` at request time; it is
never stored in the config, so it never reaches ``.hydra/config.yaml``, manifests or W&B.

Requests are logged at DEBUG (``debug=smoke`` shows them), one line each; the ``httpx``
library's own INFO line per request is silenced unless its logger was configured. What a run's
requests did goes to the stage's metrics instead, through :meth:`OpenAIServerLLM.counters`:
``llm_requests`` (HTTP requests sent, retries included), ``llm_retries``, ``llm_request_p50_s``
and ``llm_request_p95_s`` (latency of the answered ones) and ``llm_peak_in_flight``. At most
``max_concurrency`` requests per server are in flight at once (``in_flight_limit`` =
``max_concurrency`` x the replicas or URLs), however many threads call ``generate`` (``plan``
runs many tasks at once, each calling from its own thread). Our vLLM configs set the server's
``--max-num-seqs`` to the same ``max_concurrency``, so the client keeps each replica's batch full
without queueing more than it schedules.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arm_exp.errors import LLMError
from arm_exp.http_retry import InFlight, Retryable, RetryPolicy
from arm_exp.llm.base import BaseLLM, Generation, Prompt, Sampling, truncate_at_stop
from arm_exp.llm.managed import ManagedServer, start_all

log = logging.getLogger(__name__)


class _ServerDown(Exception):
    """The managed server behind a request has exited; the request can be sent again."""


class OpenAIServerLLM(BaseLLM):
    """Client for an OpenAI-compatible server.

    Args:
        model: the model name the server expects (``--served-model-name`` for vLLM).
        base_url: ``http://host:port/v1``, or a list of them (round-robin); ignored if managed.
        api_key_env: name of the environment variable holding the key (``EMPTY`` if unset).
        timeout_s: per-request timeout.
        max_retries: retries per request after the first attempt.
        backoff_s / max_backoff_s: exponential backoff base and cap (full jitter).
        max_total_wait_s: bound on the time one request may take, retries included (each
            attempt's timeout is clipped to what is left of it).
        max_concurrency: requests in flight at most per server (a replica or a ``base_url``),
            over all calling threads; match it to the server's batch (vLLM's ``--max-num-seqs``).
        logprobs: ask for the sampled tokens' log-probabilities (summed per sample).
        extra_body: extra JSON fields for the server (e.g. vLLM's ``top_k``,
            ``return_token_ids``).
        managed: a :class:`ManagedServer` (or a list of them: data-parallel replicas) to start
            on first use and stop on close.
        max_restarts: restarts of managed servers that died mid-run, per client.
    """

    def __init__(
        self,
        model: str,
        base_url: str | list[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 120.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_total_wait_s: float = 120.0,
        max_concurrency: int = 16,
        logprobs: bool = False,
        extra_body: dict[str, Any] | None = None,
        managed: ManagedServer | Sequence[ManagedServer] | None = None,
        max_restarts: int = 3,
    ) -> None:
        super().__init__()
        if base_url is None and not managed:
            raise LLMError("openai_server needs `base_url` or a `managed` server")
        urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
        self.base_urls = [u.rstrip("/") for u in urls]
        self.model = model
        self.api_key_env = api_key_env
        self.retry = RetryPolicy(timeout_s, max_retries, backoff_s, max_backoff_s, max_total_wait_s)
        self.max_concurrency = max_concurrency
        self.logprobs = logprobs
        self.extra_body = dict(extra_body or {})
        self.servers: list[ManagedServer] = (
            []
            if managed is None
            else [managed]
            if isinstance(managed, ManagedServer)
            else list(managed)
        )
        self.max_restarts = max_restarts
        self._restarts = 0
        self._server_lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._rr = itertools.count()
        self._client_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.in_flight_limit = max_concurrency * max(1, len(self.servers) or len(self.base_urls))
        self._gate = InFlight(max_concurrency)  # per server URL

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def managed(self) -> ManagedServer | None:
        """The first managed server (None for a client of servers started elsewhere)."""
        return self.servers[0] if self.servers else None

    def start(self) -> list[str]:
        """Start the managed servers that are not running (all at once); their ``/v1`` URLs.

        Any thread may call it: each server is forked by an owner thread of its own, which
        lives as long as the server (see :mod:`arm_exp.llm.managed`).
        """
        with self._server_lock:
            dead = [s for s in self.servers if not s.alive()]
            # A server whose process exited on its own (stop() clears `proc`; never-started or
            # deliberately stopped servers start without using the budget).
            crashed = [s for s in dead if s.proc is not None]
            restarts = len(crashed)
            if restarts and self._restarts + restarts > self.max_restarts:
                s = crashed[0]
                raise LLMError(
                    f"managed {s.name} at {s.base_url} (model {self.model!r}) died and the "
                    f"restart budget (max_restarts={self.max_restarts}) is spent; "
                    f"log {s.log_path}:\n{s.log_tail()}"
                )
            if dead:
                if restarts:
                    log.warning("restarting %d managed LLM server(s) that died", restarts)
                start_all(dead)
                self._restarts += restarts
        return [s.base_url + "/v1" for s in self.servers]

    def _urls(self) -> list[str]:
        return self.start() if self.servers else self.base_urls

    def _server_down(self, url: str) -> ManagedServer | None:
        """The managed server behind ``url`` if it has exited (None otherwise)."""
        for s in self.servers:
            if s.base_url + "/v1" == url and not s.alive():
                return s
        return None

    def counters(self) -> dict[str, float]:
        out = super().counters()
        if self.servers:
            out["llm_server_restarts"] = self._restarts
        out.update(self._gate.counters("llm"))
        return out

    def _client(self, url: str):
        import openai

        with self._client_lock:
            if not self._clients:
                quiet_httpx()
            if url not in self._clients:
                self._clients[url] = openai.OpenAI(
                    base_url=url,
                    api_key=os.environ.get(self.api_key_env) or "EMPTY",
                    timeout=self.retry.timeout_s,
                    max_retries=0,  # we retry ourselves, with a bounded total wait
                )
            return self._clients[url]

    def _executor(self) -> ThreadPoolExecutor:
        with self._client_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.in_flight_limit, thread_name_prefix="llm-http")
            return self._pool

    # -- API ---------------------------------------------------------------------------------
    def _generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        urls = self._urls()
        jobs = []
        for i, p in enumerate(prompts):
            url = urls[next(self._rr) % len(urls)]
            jobs.append((url, p, sampling.for_prompt(i)))
        results: list[Generation | None] = [None] * len(jobs)
        pending = list(range(len(jobs)))
        while pending:
            out = self._send([jobs[i] for i in pending])
            dropped = [i for i, r in zip(pending, out, strict=True) if isinstance(r, _ServerDown)]
            for i, r in zip(pending, out, strict=True):
                if isinstance(r, Generation):
                    results[i] = r
            if dropped:
                # Restart here, in the caller's thread, and send the dropped requests again with
                # their own seeds: same samples as if nothing had happened.
                self.start()
            pending = dropped
        return [g for g in results if g is not None]

    def _send(self, jobs: list[tuple[str, Prompt, dict[str, Any]]]) -> list[Any]:
        """Each job's Generation, or a _ServerDown for those whose managed server died."""

        def one(job: tuple[str, Prompt, dict[str, Any]]) -> Any:
            try:
                return self._request(*job)
            except _ServerDown as e:
                return e

        if len(jobs) == 1:
            return [one(jobs[0])]
        return list(self._executor().map(one, jobs))

    def _request(self, url: str, prompt: Prompt, kw: dict[str, Any]) -> Generation:
        def down(e: Retryable) -> None:
            if self._server_down(url) is not None:
                raise _ServerDown(url) from e

        def give_up(attempts: int, last: BaseException | None) -> LLMError:
            return LLMError(
                f"LLM server at {url} (model {self.model!r}) failed after {attempts} attempts "
                f"within {self.retry.max_total_wait_s:.0f}s: {type(last).__name__}: {last}"
            )

        return self.retry.run(
            lambda timeout_s, attempt: self._timed_request(url, prompt, kw, timeout_s, attempt),
            f"LLM request to {url}",
            give_up,
            on_retryable=down,
            on_retry=self._gate.retried,
        )

    def _timed_request(
        self, url: str, prompt: Prompt, kw: dict[str, Any], timeout_s: float, attempt: int
    ) -> Generation:
        """One attempt, within the in-flight bound, counted and timed."""
        self._client(url)  # created (and `openai` imported) before the clock starts
        started = time.perf_counter()
        try:
            with self._gate.slot(url):
                gen = self._request_once(url, prompt, kw, timeout_s)
        except BaseException as e:
            log.debug("LLM request to %s failed after %.3fs: %s", url, _since(started), e)
            raise
        log.debug(
            "LLM request to %s: n=%d, %d completion tokens in %.3fs (attempt %d)",
            url,
            kw["n"],
            sum(gen.completion_tokens),
            _since(started),
            attempt + 1,
        )
        return gen

    def _request_once(
        self, url: str, prompt: Prompt, kw: dict[str, Any], timeout_s: float
    ) -> Generation:
        import openai

        client = self._client(url)
        extra = dict(self.extra_body)
        try:
            if isinstance(prompt, str):
                resp = client.completions.create(
                    model=self.model,
                    prompt=prompt,
                    logprobs=1 if self.logprobs else None,
                    extra_body=extra or None,
                    timeout=timeout_s,
                    **kw,
                )
            else:
                resp = client.chat.completions.create(
                    model=self.model,
                    messages=prompt,
                    logprobs=self.logprobs or None,
                    extra_body=extra or None,
                    timeout=timeout_s,
                    **kw,
                )
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as e:
            raise Retryable(str(e)) from e
        except openai.APIStatusError as e:
            if e.status_code >= 500:
                raise Retryable(str(e)) from e
            raise LLMError(
                f"LLM server at {url} rejected the request (HTTP {e.status_code}): {e.message}"
            ) from None
        except (openai.APIResponseValidationError, json.JSONDecodeError, ValueError) as e:
            raise Retryable(f"invalid response: {e}") from e
        return self._parse(resp, prompt, kw)

    def _parse(self, resp: Any, prompt: Prompt, kw: dict[str, Any]) -> Generation:
        choices = getattr(resp, "choices", None)
        if not choices:
            raise Retryable("response has no choices")
        choices = sorted(choices, key=lambda c: c.index)
        texts, reasons, lps = [], [], []
        counts: list[int | None] = []
        for c in choices:
            text = c.text if isinstance(prompt, str) else (c.message.content or "")
            if not isinstance(text, str):
                raise Retryable("a choice has no text")
            # Servers apply `stop` themselves; cutting again is a no-op that guards the contract.
            text, _ = truncate_at_stop(text, kw.get("stop"))
            texts.append(text)
            reasons.append(c.finish_reason or "stop")
            lps.append(_sum_logprobs(c, isinstance(prompt, str)))
            ids = getattr(c, "token_ids", None)
            counts.append(len(ids) if isinstance(ids, list) else None)
        usage = getattr(resp, "usage", None)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        if all(k is not None for k in counts):
            per = [int(k) for k in counts]  # type: ignore[arg-type]
        else:
            per = [completion // len(texts)] * len(texts)
            for k in range(completion - sum(per)):
                per[k] += 1
        return Generation(
            texts=texts,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=per,
            finish_reasons=reasons,
            logprobs=lps if self.logprobs else None,
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        for c in self._clients.values():
            c.close()
        self._clients.clear()
        for s in self.servers:
            s.stop()


def _sum_logprobs(choice: Any, completion: bool) -> float:
    lp = getattr(choice, "logprobs", None)
    if lp is None:
        return 0.0
    if completion:
        return float(sum(x for x in (lp.token_logprobs or []) if x is not None))
    return float(sum(t.logprob for t in (lp.content or [])))


def _since(started: float) -> float:
    return time.perf_counter() - started


def quiet_httpx() -> None:
    """The ``openai`` client's transport (``httpx``, or ``httpx2`` in recent ``openai``
    releases) logs every request at INFO: 100k lines for one table cell. Raise its logger to
    WARNING unless someone configured it (our own DEBUG line per request replaces it)."""
    for name in ("httpx", "httpx2"):
        transport_log = logging.getLogger(name)
        if transport_log.level == logging.NOTSET:
            transport_log.setLevel(logging.WARNING)
