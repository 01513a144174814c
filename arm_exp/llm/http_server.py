"""An OpenAI-compatible HTTP server over any in-process backend (``arm-exp serve-llm``).

Endpoints: ``GET /health``, ``GET /v1/models``, ``POST /v1/completions``,
``POST /v1/chat/completions`` with ``n``, ``temperature``, ``top_p``, ``max_tokens``, ``stop``,
``seed`` and ``stream``. Concurrent requests with the same sampling parameters are batched into
one ``generate`` call (seeded requests run alone so their output does not depend on the others).
It lets agents outside Python, and our own ``openai_server`` client, use the embedded CPU model.

As the OpenAI API does, a request must name the served model (``model``; another name is a 404
``model_not_found``), and ``stream: true`` answers with server-sent events: ``chat.completion
.chunk`` (or ``text_completion``) objects, then ``data: [DONE]``. The backend generates a whole
completion at once, so each choice's text arrives in one chunk, followed by a chunk with its
``finish_reason``.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import defaultdict
from typing import Any

from arm_exp.llm.base import LLM, Generation
from arm_exp.serving import JsonHandler, MicroBatcher, Raw, make_server


def _params(body: dict[str, Any]) -> dict[str, Any]:
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    return {
        "n": int(body.get("n") or 1),
        "temperature": float(
            body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0
        ),
        "top_p": float(body.get("top_p") or 1.0),
        "max_tokens": int(body.get("max_tokens") or 16),
        "stop": tuple(stop) if stop else None,
        "seed": body.get("seed"),
    }


class _Batch:
    """Groups queued requests by sampling parameters and runs one generate per group."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self._ids = itertools.count()

    def __call__(self, items: list[tuple[Any, dict[str, Any]]]) -> list[Generation]:
        groups: dict[tuple, list[int]] = defaultdict(list)
        for k, (_, params) in enumerate(items):
            key = tuple(sorted(params.items()))
            if params["seed"] is not None:
                key = (*key, ("solo", next(self._ids)))
            groups[key].append(k)
        out: list[Generation | None] = [None] * len(items)
        for idx in groups.values():
            params = dict(items[idx[0]][1])
            stop = list(params.pop("stop") or []) or None
            gens = self.llm.generate([items[k][0] for k in idx], stop=stop, **params)
            for k, g in zip(idx, gens, strict=True):
                out[k] = g
        return out  # type: ignore[return-value]


class LLMHandler(JsonHandler):
    llm: LLM
    model_name: str
    batcher: MicroBatcher

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/health":
            return 200, {"status": "ok"}
        if method == "GET" and path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": self.model_name, "object": "model"}]}
        if method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
            chat = path.endswith("chat/completions")
            model = body.get("model")
            if model != self.model_name:
                return _model_error(model, self.model_name)
            field = "messages" if chat else "prompt"
            if field not in body:
                raise ValueError(f"'{field}' is required")
            prompt = body[field]
            if not chat and isinstance(prompt, list):
                if len(prompt) != 1:
                    raise ValueError("this server takes one prompt per request")
                prompt = prompt[0]
            gen: Generation = self.batcher.submit((prompt, _params(body)))
            response = _response(gen, self.model_name, chat)
            if body.get("stream"):
                return 200, Raw(_events(response, chat), "text/event-stream")
            return 200, response
        return 404, {"error": {"message": f"no route {method} {path}"}}


def _model_error(model: Any, served: str) -> tuple[int, Any]:
    """OpenAI's answers: no model is a 400, an unknown one a 404 ``model_not_found``."""
    if not model:
        return 400, {"error": {"message": "you must provide a model parameter", "param": "model",
                               "type": "invalid_request_error", "code": None}}  # fmt: skip
    return 404, {
        "error": {
            "message": f"The model `{model}` does not exist; this server serves `{served}`",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def _events(response: dict[str, Any], chat: bool) -> bytes:
    """A finished response as the OpenAI API streams it: per choice a chunk with its text (chat:
    ``delta`` with the role and content) and one with its ``finish_reason``, then usage-free
    ``[DONE]``."""
    head = {k: response[k] for k in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk" if chat else "text_completion"
    chunks = []
    for c in response["choices"]:
        text: dict[str, Any]
        end: dict[str, Any]
        if chat:
            text = {"delta": {"role": "assistant", "content": c["message"]["content"]}}
            end = {"delta": {}}
        else:
            text, end = {"text": c["text"]}, {"text": ""}
        for part, reason in ((text, None), (end, c["finish_reason"])):
            choice = {"index": c["index"], **part, "logprobs": None, "finish_reason": reason}
            chunks.append({**head, "choices": [choice]})
    lines = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def _response(gen: Generation, model: str, chat: bool) -> dict[str, Any]:
    choices = []
    for i, (text, reason) in enumerate(zip(gen.texts, gen.finish_reasons, strict=True)):
        c: dict[str, Any] = {"index": i, "finish_reason": reason, "logprobs": None}
        if chat:
            c["message"] = {"role": "assistant", "content": text}
        else:
            c["text"] = text
        choices.append(c)
    completion = sum(gen.completion_tokens)
    return {
        "id": f"cmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": gen.prompt_tokens + completion,
        },
    }


def serve(
    llm: LLM, model_name: str, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 16
):
    """Build the server (call ``serve_forever`` on it); the batcher batches concurrent requests.

    The model is loaded first, so ``/health`` answering means ready (as with ``vllm serve``):
    a managed client's first request, or its re-sent ones after a restart, never pay the load
    inside their own time budget.
    """
    if hasattr(llm, "warm"):
        llm.warm()
    batcher = MicroBatcher(_Batch(llm), max_batch=max_batch, max_wait_s=0.02)
    return make_server(host, port, LLMHandler, llm=llm, model_name=model_name, batcher=batcher)
