"""A latency-simulating OpenAI-compatible server: what a GPU server below saturation looks like.

For benchmarks and tests of the serving path, not for results. Every request is answered after
a fixed ``latency_s``, however many are in flight, up to ``capacity`` requests at once (more
wait for a slot, as on a saturated server). It counts requests and the peak in flight
(``GET /stats``; ``POST /reset`` zeroes them). Its answers are deterministic in the prompt, the
seed and the sample's index, and plausible for our agents, so episodes are real episodes:

- Game of 24 (the policy prompt ending in ``Input: ... Steps: ...``): the remaining steps as
  ``a op b = c (left: ...)`` lines on the numbers still left, then ``Answer: <expr> = 24``;
  a solving sequence with probability ``solve_rate``, else random legal steps;
- ScienceWorld (``Thought:`` / ``Action:`` turns): a thought and one of a few safe actions;
- a judge prompt ("Reply with Yes or No"): ``Yes`` or ``No``; a reflection prompt
  (``STATUS: FAIL``): a short new plan; anything else: a short sentence.

    python -m arm_exp.llm.sim_server --port 8000 --latency 0.5 --capacity 64
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import re
import threading
import time
import uuid
from fractions import Fraction
from typing import Any

from arm_exp.serving import JsonHandler, make_server

_STEP = re.compile(r"^\s*(\d+(?:/\d+)?)\s*([-+*/])\s*(\d+(?:/\d+)?)\s*=\s*(\d+(?:/\d+)?)")
_INPUT = re.compile(r"Input:\s*((?:\d+\s*){2,6})")
_SW_ACTIONS = [
    "look around",
    "inventory",
    "go to kitchen",
    "go to hallway",
    "open door to kitchen",
    "look at table",
    "wait1",
]


class SimState:
    """Counters shared by the handler threads, and the latency model."""

    def __init__(self, latency_s: float, capacity: int, solve_rate: float) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity}: must be >= 1")
        self.latency_s = latency_s
        self.solve_rate = solve_rate
        self.slots = threading.BoundedSemaphore(capacity)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.in_flight = 0
            self.peak_in_flight = 0
            self.first_request_at: float | None = None
            self.last_response_at: float | None = None

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "peak_in_flight": self.peak_in_flight,
                "in_flight": self.in_flight,
                "first_request_at": self.first_request_at,
                "last_response_at": self.last_response_at,
            }

    def serve(self, body: dict[str, Any], chat: bool) -> dict[str, Any]:
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            if self.first_request_at is None:
                self.first_request_at = time.time()
        try:
            with self.slots:
                time.sleep(self.latency_s)
            return respond(body, chat, self.solve_rate)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.last_response_at = time.time()


def respond(body: dict[str, Any], chat: bool, solve_rate: float = 0.3) -> dict[str, Any]:
    """The OpenAI-style response to a (chat) completion request body."""
    if chat:
        messages = body["messages"]
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        last_user = next(
            (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
    else:
        prompt = body["prompt"][0] if isinstance(body["prompt"], list) else str(body["prompt"])
        last_user = prompt
    n = int(body.get("n") or 1)
    seed = body.get("seed")
    choices = []
    for i in range(n):
        key = json.dumps([prompt, seed, i, body.get("temperature")], sort_keys=True)
        rng = random.Random(hashlib.sha256(key.encode()).digest())
        text = answer(prompt, last_user, rng, solve_rate)
        c: dict[str, Any] = {"index": i, "finish_reason": "stop", "logprobs": None}
        if chat:
            c["message"] = {"role": "assistant", "content": text}
        else:
            c["text"] = text
        choices.append(c)
    completion = sum(len(c.get("text") or c["message"]["content"]) // 4 + 1 for c in choices)
    prompt_tokens = len(prompt) // 4 + 1
    return {
        "id": f"cmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": body.get("model", "sim"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }


def answer(prompt: str, last_user: str, rng: random.Random, solve_rate: float) -> str:
    """A plausible answer for the agent whose prompt this is (see the module docstring)."""
    if "Reply with Yes or No" in last_user:
        return rng.choice(["Yes", "No"])
    if "STATUS: FAIL" in last_user:
        return "STATUS: FAIL\nNew plan: combine different numbers first."
    if "Continue the steps for this last input" in last_user:
        return game24_steps(last_user, rng, solve_rate)
    if "Thought:" in prompt and "Action:" in prompt:
        action = rng.choice(_SW_ACTIONS)
        return f"Thought: I should look for what the task needs.\nAction: {action}"
    return "I cannot help with that."


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b != 0 else None


def _moves(nums: list[Fraction]) -> list[tuple[int, int, str, Fraction]]:
    """Legal steps with a non-negative integer result (what a model mostly writes)."""
    out = []
    for i, j in itertools.permutations(range(len(nums)), 2):
        for op in "+-*/":
            c = _apply(op, nums[i], nums[j])
            if c is not None and c >= 0 and c.denominator == 1:
                out.append((i, j, op, c))
    return out


def _solve(nums: list[Fraction]) -> list[tuple[int, int, str, Fraction]] | None:
    """Steps from ``nums`` to 24 (None if there are none)."""
    if len(nums) == 1:
        return [] if nums[0] == 24 else None
    for i, j, op, c in _moves(nums):
        rest = [x for k, x in enumerate(nums) if k not in (i, j)] + [c]
        tail = _solve(rest)
        if tail is not None:
            return [(i, j, op, c), *tail]
    return None


def game24_steps(text: str, rng: random.Random, solve_rate: float) -> str:
    """The rest of a Game of 24 solution for the last ``Input:`` of a policy prompt."""
    found = _INPUT.findall(text)
    if not found:
        return "Answer: 24 = 24"
    nums = [Fraction(int(x)) for x in found[-1].split()]
    exprs = [_fmt(x) for x in nums]
    tail = text[text.rfind("Input:") :]
    for line in tail.splitlines():  # the steps already taken (lines the env rejected fail here)
        m = _STEP.match(line)
        if m is None:
            continue
        a, op, b, c = Fraction(m.group(1)), m.group(2), Fraction(m.group(3)), Fraction(m.group(4))
        if a not in nums or _apply(op, a, b) != c:
            continue
        ia = nums.index(a)
        ib = next((k for k, x in enumerate(nums) if k != ia and x == b), -1)
        if ib < 0:
            continue
        expr = f"({exprs[ia]} {op} {exprs[ib]})"
        keep = [k for k in range(len(nums)) if k not in (ia, ib)]
        nums, exprs = [nums[k] for k in keep] + [c], [exprs[k] for k in keep] + [expr]
    plan = _solve(nums) if rng.random() < solve_rate else None
    lines = []
    while len(nums) > 1:
        moves = _moves(nums)
        if not moves:
            break
        i, j, op, c = plan.pop(0) if plan else rng.choice(moves)
        expr = f"({exprs[i]} {op} {exprs[j]})"
        keep = [k for k in range(len(nums)) if k not in (i, j)]
        a, b = nums[i], nums[j]
        nums, exprs = [nums[k] for k in keep] + [c], [exprs[k] for k in keep] + [expr]
        left = " ".join(_fmt(x) for x in sorted(nums))
        lines.append(f"{_fmt(a)} {op} {_fmt(b)} = {_fmt(c)} (left: {left})")
    final = exprs[0][1:-1] if exprs[0].startswith("(") else exprs[0]
    lines.append(f"Answer: {final} = 24")
    return "\n".join(lines)


class SimHandler(JsonHandler):
    state: SimState

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/health":
            return 200, {"status": "ok"}
        if method == "GET" and path == "/stats":
            return 200, self.state.stats()
        if method == "POST" and path == "/reset":
            self.state.reset()
            return 200, {"status": "ok"}
        if method == "GET" and path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": "sim", "object": "model"}]}
        if method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
            return 200, self.state.serve(body, chat=path.endswith("chat/completions"))
        return 404, {"error": {"message": f"no route {method} {path}"}}


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    latency_s: float = 0.5,
    capacity: int = 64,
    solve_rate: float = 0.3,
):
    """The server (call ``serve_forever`` in a thread); ``server.state`` holds the counters and
    ``server.server_address`` the port (0 picks a free one)."""
    state = SimState(latency_s, capacity, solve_rate)
    server = make_server(host, port, SimHandler, state=state)
    server.state = state  # type: ignore[attr-defined]
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m arm_exp.llm.sim_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per request")
    parser.add_argument("--capacity", type=int, default=64, help="requests served at once")
    parser.add_argument("--solve-rate", type=float, default=0.3)
    args = parser.parse_args(argv)
    server = serve(args.host, args.port, args.latency, args.capacity, args.solve_rate)
    print(f"sim LLM server on http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")


if __name__ == "__main__":
    main()
