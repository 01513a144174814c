"""The openai_server client against a real local HTTP server that injects faults.

The server is our own OpenAI-compatible one (``arm_exp.llm.http_server``) over a scripted
in-process LLM; a handler subclass answers the next queued requests with a fault instead:
HTTP 5xx, 429, a hang past the client timeout, a connection cut before any answer, a body cut
mid-JSON, a non-JSON body, or a response without choices. Each fault is retried (exponential
backoff with full jitter) and then the request succeeds; a fault that persists ends in an
LLMError naming the endpoint within the bounded total wait; a 4xx is not retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from arm_exp.errors import LLMError
from arm_exp.llm.base import BaseLLM, Generation
from arm_exp.llm.http_server import LLMHandler, serve
from arm_exp.llm.openai_server import OpenAIServerLLM
from tests.conftest import ClientClock

CHAT = [{"role": "user", "content": "Name a fruit."}]
HANG_S = 3.0


class EchoLLM(BaseLLM):
    """Answers every prompt with "ok"."""

    def generate(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=128, stop=None, seed=None
    ):
        gens = [Generation(["ok"] * n, 3, [1] * n, ["stop"] * n) for _ in prompts]
        self._record(gens, 0.0)
        return gens


class FaultyHandler(LLMHandler):
    """LLMHandler that answers the next queued requests with an injected fault."""

    faults: list[str]
    seen: list[dict]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
        fault = self.faults.pop(0) if self.faults else None
        if fault is None:
            return super().do_POST()
        self._body()
        if fault in ("500", "502", "503", "429"):
            self._send(int(fault), {"error": {"message": f"injected {fault}"}})
        elif fault == "400":
            self._send(400, {"error": {"message": "injected bad request"}})
        elif fault == "hang":
            time.sleep(HANG_S)
            self.close_connection = True
        elif fault == "drop":  # close the connection without an answer
            self.close_connection = True
        elif fault == "cut":  # headers promise more than the body that arrives
            self._raw(b'{"id": "x", "object": "chat.completion", "choi', length=400)
        elif fault == "truncated":  # a complete HTTP answer whose JSON is cut short
            self._raw(b'{"id": "x", "object": "chat.completion", "choices": [{"ind')
        elif fault == "invalid":
            self._raw(b"<html>upstream proxy error</html>")
        elif fault == "empty":
            self._send(200, {"id": "x", "object": "chat.completion", "created": 0,
                             "model": self.model_name, "choices": []})  # fmt: skip
        else:
            raise AssertionError(fault)

    def _raw(self, data: bytes, length: int | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(length or len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def server() -> Iterator:
    httpd = serve(EchoLLM(), "echo", port=0)
    faulty = type("Faulty", (FaultyHandler, httpd.RequestHandlerClass), {"faults": [], "seen": []})
    httpd.RequestHandlerClass = faulty
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()


def _client(server, **kw) -> OpenAIServerLLM:
    port = server.server_address[1]
    args = dict(timeout_s=1.0, backoff_s=0.02, max_backoff_s=0.1, max_retries=4,
                max_total_wait_s=10.0)  # fmt: skip
    args.update(kw)
    return OpenAIServerLLM(model="echo", base_url=f"http://127.0.0.1:{port}/v1", **args)


FAULTS = ["500", "502", "503", "429", "hang", "drop", "cut", "truncated", "invalid", "empty"]


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_is_retried_then_the_request_succeeds(server, fault):
    handler = server.RequestHandlerClass
    handler.faults[:] = [fault, fault]
    handler.seen.clear()
    llm = _client(server)
    try:
        gen = llm.generate([CHAT], n=2, max_tokens=4)[0]
    finally:
        llm.close()
    assert gen.texts == ["ok", "ok"]
    assert len(handler.seen) == 3 and not handler.faults  # two faults, then the answer
    c = llm.counters()  # what the stage's metrics get
    assert c["llm_requests"] == 3 and c["llm_retries"] == 2


@pytest.mark.parametrize("fault", ["503", "hang", "truncated", "empty"])
def test_persistent_fault_is_a_clear_error_within_the_bounded_wait(server, fault, monkeypatch):
    import arm_exp.http_retry as mod

    handler = server.RequestHandlerClass
    handler.faults[:] = [fault] * 50
    budget = 1.5
    llm = _client(server, max_retries=50, max_total_wait_s=budget, timeout_s=1.0)
    clock = ClientClock()
    monkeypatch.setattr(mod, "time", clock)
    monkeypatch.setattr(llm, "_request_once", clock.charge(llm._request_once))
    port = server.server_address[1]
    try:
        with pytest.raises(LLMError, match=f"127.0.0.1:{port}/v1") as e:
            llm.generate([CHAT], max_tokens=4)
    finally:
        llm.close()
        handler.faults.clear()
    # It retried, and no attempt nor backoff was granted time past the budget: each attempt's
    # timeout is clipped to what is left of it (at least 0.05 s, so a last try can connect).
    assert len(clock.attempts) >= 2 and len(clock.sleeps) == len(clock.attempts) - 1
    assert clock.attempts[0] == (0.0, 1.0)
    for started, timeout in clock.attempts:
        assert started < budget and started + timeout <= max(budget, started + 0.05) + 1e-9
    assert clock.now <= budget + 0.05 + 1e-9, f"{fault}: gave up at {clock.now:.3f}s"
    assert f"after {len(clock.attempts)} attempts" in str(e.value)


def test_client_error_is_not_retried(server):
    handler = server.RequestHandlerClass
    handler.faults[:] = ["400", "400"]
    handler.seen.clear()
    llm = _client(server)
    try:
        with pytest.raises(LLMError, match="HTTP 400"):
            llm.generate([CHAT], max_tokens=4)
    finally:
        llm.close()
        handler.faults.clear()
    assert len(handler.seen) == 1


def test_backoff_is_exponential_with_full_jitter(server, monkeypatch):
    import arm_exp.http_retry as mod

    bounds: list[tuple[float, float]] = []
    real = mod.random.uniform

    def spy(a: float, b: float) -> float:
        bounds.append((a, b))
        return real(a, b)

    monkeypatch.setattr(mod.random, "uniform", spy)
    handler = server.RequestHandlerClass
    handler.faults[:] = ["503"] * 4
    llm = _client(server, backoff_s=0.01, max_backoff_s=0.05)
    try:
        assert llm.generate([CHAT], max_tokens=4)[0].texts == ["ok"]
    finally:
        llm.close()
    assert bounds == [(0, 0.01), (0, 0.02), (0, 0.04), (0, 0.05)]
