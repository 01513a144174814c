"""Reward-model scores from vLLM's pooling server (``scorer=vllm_pooling``).

``vllm serve <folder> --runner pooling`` runs an exported reward model (``arm-exp export``; any
single-logit ``*ForSequenceClassification`` folder) with continuous batching; this scorer sends
it the items a planner asks for, so many planning jobs can share one server.

- inputs: the folder's own tokenizer and template (``arm_exp.json``) turn each (intent,
  trajectory) into token ids exactly as training did (head capped, tail keeps its end), and the
  ids are sent, not text: vLLM's text endpoints tokenize on their own (no head cap, no tail
  kept), so the server would score other inputs;
- outputs: raw logits (``use_activation: false``; the default would be the sigmoid), plus the
  head's bias (``arm_exp_score_bias`` in ``config.json``), so scores, thresholds and the
  calibration's map into [0, 1] are the in-process scorer's;
- the cache, the per-task counts and the calibration are :class:`RewardScorer`'s; only the
  forward passes differ: the misses of a call go out as requests of ``batch_size`` items, at
  most ``max_concurrency`` in flight over all calling threads (``plan`` runs many tasks at once,
  each calling from its own thread), each retried within a bounded wait
  (:mod:`arm_exp.http_retry`, shared with the LLM client);
- ``managed``: a server (``ManagedServer`` running ``vllm serve <folder> --runner pooling``, as
  ``conf/scorer/vllm_pooling.yaml`` sets) started on first use and stopped on :meth:`close`.

Counters beside ``rm_*``: ``rm_requests``, ``rm_retries``, ``rm_peak_in_flight``,
``rm_request_p50_s`` / ``p95_s``.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arm_exp.errors import ArmExpError, ArtifactError, ConfigError
from arm_exp.http_retry import InFlight, Retryable, RetryPolicy, Server
from arm_exp.reward.hf import HFRewardModel, is_hf_folder
from arm_exp.reward.model import Calibration
from arm_exp.reward.render import Renderer
from arm_exp.reward.scorer import RewardScorer


class PoolingServerError(ArmExpError, RuntimeError):
    """The pooling server failed in a way retries cannot fix; the message names it."""


class VLLMPoolingScorer(RewardScorer):
    """A :class:`RewardScorer` whose forward passes run on a vLLM pooling server.

    Args:
        path: the folder the server serves (its tokenizer, template, bias, calibration, lineage).
        model: the served model name (``--served-model-name``).
        base_url: a running server, ``http://host:port``; ignored with ``managed``.
        managed: a server to start on first use and stop on :meth:`close`.
        batch_size: items per request.
        max_concurrency: requests in flight at most, over all calling threads.
        cache_size: scores kept (least recently used evicted).
        timeout_s, max_retries, backoff_s, max_backoff_s, max_total_wait_s: each request's
            retries (:class:`~arm_exp.http_retry.RetryPolicy`).
    """

    def __init__(
        self,
        path: str,
        model: str = "arm-exp-rm",
        base_url: str | None = None,
        managed: Server | None = None,
        batch_size: int = 32,
        max_concurrency: int = 8,
        cache_size: int = 100_000,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_total_wait_s: float = 300.0,
    ) -> None:
        if not is_hf_folder(path):
            raise ArtifactError(
                f"scorer=vllm_pooling: rm_ckpt={path} is not a Hugging Face folder (vLLM serves "
                "folders): export the checkpoint first, `arm-exp export rm_ckpt=...`"
            )
        if base_url is None and managed is None:
            raise ConfigError("scorer=vllm_pooling needs scorer.base_url or scorer.managed")
        if batch_size < 1:
            raise ConfigError(f"scorer.batch_size={batch_size}: must be >= 1")
        inputs = HFRewardModel(path, "cpu", weights=False)
        super().__init__(
            inputs,
            Renderer(**inputs.meta["renderer"]),
            Calibration(**inputs.meta["calibration"]),
            batch_size=batch_size,
            cache_size=cache_size,
        )
        self.lineage = dict(inputs.meta["lineage"])
        self.score_bias = inputs.spec.score_bias
        self.served_model = model
        self.base_url = None if base_url is None else base_url.rstrip("/")
        self.server = managed
        self.retry = RetryPolicy(timeout_s, max_retries, backoff_s, max_backoff_s, max_total_wait_s)
        self.max_concurrency = max_concurrency
        self._gate = InFlight(max_concurrency)
        self._server_lock = threading.Lock()
        self._started = False
        self._pool: ThreadPoolExecutor | None = None

    # -- the server ------------------------------------------------------------------------
    def url(self) -> str:
        """The server's base URL (a managed one is started on first call)."""
        if self.server is None:
            assert self.base_url is not None  # checked in __init__
            return self.base_url
        with self._server_lock:
            if not self._started:
                self.server.start()
                self._started = True
            elif not self.server.alive():
                raise self._died()
            return self.server.base_url

    def _died(self) -> PoolingServerError:
        assert self.server is not None
        return PoolingServerError(
            f"the managed vLLM pooling server at {self.server.base_url} exited; log "
            f"{self.server.log_path}:\n{self.server.log_tail()}"
        )

    # -- scoring ---------------------------------------------------------------------------
    def _score_misses(self, pairs: list[tuple[str, str]]) -> list[float]:
        ids = self.model.encode(pairs)
        url = self.url()
        chunks = [ids[i : i + self.batch_size] for i in range(0, len(ids), self.batch_size)]
        if len(chunks) == 1:
            logits = [self._request(url, chunks[0])]
        else:
            logits = list(self._executor().map(lambda c: self._request(url, c), chunks))
        with self._lock:
            self._counters["rm_batches"] += len(chunks)
            self._counters["rm_forward_items"] += len(ids)
        return [x + self.score_bias for chunk in logits for x in chunk]

    def _executor(self) -> ThreadPoolExecutor:
        with self._server_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="rm-http")
            return self._pool

    def _request(self, url: str, ids: list[list[int]]) -> list[float]:
        body = json.dumps(
            {
                "model": self.served_model,
                "input": ids,
                "task": "classify",
                "use_activation": False,  # the raw logit, not its sigmoid
                "add_special_tokens": False,  # the ids hold them already
            }
        ).encode()

        def attempt(timeout_s: float, n: int) -> list[float]:
            with self._gate.slot(url):
                return self._post(f"{url}/pooling", body, timeout_s, len(ids))

        def dead(e: Retryable) -> None:
            if self.server is not None and not self.server.alive():
                raise self._died() from e

        def give_up(attempts: int, last: BaseException | None) -> PoolingServerError:
            return PoolingServerError(
                f"vLLM pooling server at {url} (model {self.served_model!r}) failed after "
                f"{attempts} attempts within {self.retry.max_total_wait_s:.0f}s: "
                f"{type(last).__name__}: {last}"
            )

        return self.retry.run(
            attempt,
            f"reward-model request to {url}",
            give_up,
            on_retryable=dead,
            on_retry=self._gate.retried,
        )

    def _post(self, url: str, body: bytes, timeout_s: float, n: int) -> list[float]:
        """One attempt: the ``n`` raw logits, or :class:`Retryable` for what may pass."""
        req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")[:500]
            if e.code == 429 or e.code >= 500:
                raise Retryable(f"HTTP {e.code}: {text}") from e
            raise PoolingServerError(
                f"vLLM pooling server at {url} rejected the request (HTTP {e.code}): {text}"
            ) from None
        except (urllib.error.URLError, OSError) as e:  # refused, reset, timed out
            raise Retryable(str(e)) from e
        return _logits(raw, n, url)

    # -- lifecycle -------------------------------------------------------------------------
    def counters(self) -> dict[str, float]:
        return {**super().counters(), **self._gate.counters("rm")}

    def info(self) -> dict[str, Any]:
        return {**super().info(), "server": self.server.base_url if self.server else self.base_url}

    def close(self) -> None:
        """Stop the request threads and a managed server (a later call starts them again)."""
        super().close()
        with self._server_lock:
            pool, self._pool = self._pool, None
            started, self._started = self._started, False
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if self.server is not None and started:
            self.server.stop()


def _logits(raw: bytes, n: int, url: str) -> list[float]:
    """The logits of a ``/pooling`` answer for ``n`` inputs (``data[i].data == [logit]``)."""
    try:
        data = json.loads(raw)["data"]
        rows = sorted(data, key=lambda d: d["index"])
        values = [row["data"] for row in rows]
    except (ValueError, KeyError, TypeError) as e:
        raise Retryable(f"invalid response: {e}") from e
    if len(values) != n:
        raise Retryable(f"invalid response: {len(values)} results for {n} inputs")
    if not all(isinstance(v, list) and len(v) == 1 for v in values):
        shape = values[0] if values else None
        raise PoolingServerError(
            f"vLLM pooling server at {url} answered {shape!r} for one input, not one logit: it "
            "does not serve a single-logit classifier"
        )
    return [float(v[0]) for v in values]
