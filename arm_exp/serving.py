"""Small building blocks for our HTTP services (``serve-llm``, ``serve-rm``).

:class:`MicroBatcher` turns concurrent single requests into batched calls: a worker thread
collects what arrives within ``max_wait_s`` (up to ``max_batch`` items) and hands the batch to
one function call. Batched forward passes are several times faster per item on CPU and GPU.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class MicroBatcher:
    """Run ``fn(batch) -> results`` over items submitted concurrently by many threads."""

    def __init__(
        self, fn: Callable[[list[Any]], list[Any]], max_batch: int = 32, max_wait_s: float = 0.01
    ) -> None:
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._q: queue.Queue[tuple[Any, Future] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._loop, name="micro-batcher", daemon=True)
        self._worker.start()
        self.batches = 0
        self.items = 0

    def submit(self, item: Any) -> Any:
        fut: Future = Future()
        self._q.put((item, fut))
        return fut.result()

    def _loop(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._q.get(timeout=self.max_wait_s)
                except queue.Empty:
                    break
                if nxt is None:
                    self._q.put(None)
                    break
                batch.append(nxt)
            self.batches += 1
            self.items += len(batch)
            try:
                results = self.fn([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError("batch function returned the wrong number of results")
                for (_, fut), res in zip(batch, results, strict=True):
                    fut.set_result(res)
            except Exception as e:  # noqa: BLE001 - delivered to every waiting caller
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)

    def close(self) -> None:
        self._q.put(None)
        self._worker.join(timeout=5)


@dataclass
class Raw:
    """A response body sent as it is (server-sent events), not as JSON."""

    data: bytes
    content_type: str


class JsonHandler(BaseHTTPRequestHandler):
    """A JSON-over-HTTP handler: subclasses implement ``routes`` returning (status, body)."""

    protocol_version = "HTTP/1.1"
    max_body_bytes = 16 * 1024 * 1024

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        pass

    def _send(self, status: int, body: Any) -> None:
        raw = body if isinstance(body, Raw) else Raw(json.dumps(body).encode(), "application/json")
        data = raw.data
        self.send_response(status)
        self.send_header("Content-Type", raw.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.max_body_bytes:
            raise ValueError(f"request body over {self.max_body_bytes} bytes")
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET", None)

    def do_POST(self) -> None:  # noqa: N802
        try:
            body = self._body()
        except (ValueError, json.JSONDecodeError) as e:
            self._send(400, {"error": {"message": f"invalid JSON body: {e}"}})
            return
        if not isinstance(body, dict):
            self._send(400, {"error": {"message": "the body must be a JSON object"}})
            return
        self._dispatch("POST", body)

    def _dispatch(self, method: str, body: Any) -> None:
        try:
            status, out = self.route(method, self.path.split("?")[0], body)
        except ValueError as e:  # the routes' own checks: their message says it all
            status, out = 400, {"error": {"message": str(e)}}
        except (TypeError, KeyError) as e:
            status, out = 400, {"error": {"message": f"{type(e).__name__}: {e}"}}
        except Exception as e:  # noqa: BLE001 - a server answers 500, it does not die
            status, out = 500, {"error": {"message": f"{type(e).__name__}: {e}"}}
        self._send(status, out)

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        raise NotImplementedError


def make_server(
    host: str, port: int, handler: type[JsonHandler], **attrs: Any
) -> ThreadingHTTPServer:
    """A threading HTTP server whose handler class carries ``attrs`` (the model, batcher...)."""
    cls = type(handler.__name__, (handler,), attrs)
    server = ThreadingHTTPServer((host, port), cls)
    server.daemon_threads = True
    return server
