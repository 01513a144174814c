"""The openai_server backend against a real HTTP server on 127.0.0.1 serving the embedded model.

The server is `arm-exp serve-llm llm=smollm2_cpu`, started by the client itself (managed mode,
config llm=smollm2_server). The last tests kill it mid-run and check the restart (dropped
requests re-sent with their seeds), the error once the restart budget is spent, and that
closing leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading

import pytest
from hydra.utils import instantiate

from arm_exp.errors import LLMError
from arm_exp.llm.managed import free_port
from arm_exp.llm.openai_server import OpenAIServerLLM
from tests.conftest import ClientClock

CHAT = [{"role": "user", "content": "Name a fruit."}]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from arm_exp.config import compose
    from tests.conftest import ROOT

    cfg = compose(
        "serve_llm",
        [
            f"paths.root_dir={ROOT}",
            "llm=smollm2_server",
            # A loaded 2-core CI box can be slow: seeded requests run one after another on the
            # CPU model, so a budget of seconds would make these tests depend on the machine's
            # speed. No test here waits for the budget to run out.
            "llm.max_total_wait_s=300",
            "llm.timeout_s=300",
        ],
        tmp_path_factory.mktemp("serve"),
    )
    llm = instantiate(cfg.llm)
    yield llm
    llm.close()


def test_chat_and_completion_with_n_seed_stop(served):
    gens = served.generate([CHAT, "One, two, three,"], n=3, temperature=0.9, max_tokens=12, seed=3)
    assert [len(g.texts) for g in gens] == [3, 3]
    assert all(g.prompt_tokens > 0 and sum(g.completion_tokens) > 0 for g in gens)
    again = served.generate([CHAT, "One, two, three,"], n=3, temperature=0.9, max_tokens=12, seed=3)
    assert [g.texts for g in gens] == [g.texts for g in again]
    g = served.generate([CHAT], temperature=0, max_tokens=30, stop=["\n", "."])[0]
    assert "\n" not in g.texts[0] and "." not in g.texts[0]


def test_concurrent_requests_are_answered_in_order(served):
    prompts = [[{"role": "user", "content": f"Repeat the number {i}."}] for i in range(8)]
    gens = served.generate(prompts, temperature=0, max_tokens=8)
    solo = [served.generate([p], temperature=0, max_tokens=8)[0] for p in prompts[:2]]
    assert len(gens) == 8 and all(g.texts[0] for g in gens)
    assert [g.texts for g in gens[:2]] == [g.texts for g in solo]


def test_connection_refused_is_a_clear_bounded_error(monkeypatch):
    import arm_exp.http_retry as mod

    port = free_port()
    llm = OpenAIServerLLM(
        model="m",
        base_url=f"http://127.0.0.1:{port}/v1",
        max_total_wait_s=2,
        backoff_s=0.1,
        timeout_s=0.5,
    )
    clock = ClientClock()
    monkeypatch.setattr(mod, "time", clock)
    monkeypatch.setattr(llm, "_request_once", clock.charge(llm._request_once))
    with pytest.raises(LLMError, match=f"127.0.0.1:{port}"):
        llm.generate([CHAT], max_tokens=4)
    # retried, and gave up once the 2 s budget was scheduled (see ClientClock)
    assert len(clock.attempts) >= 2 and clock.now <= 2 + 0.05 + 1e-9


def test_server_dying_mid_run_is_restarted_and_requests_resent(served, monkeypatch):
    pid = served.managed.proc.pid
    url = served.managed.base_url
    expected = served.generate([CHAT] * 3, n=2, temperature=1.0, max_tokens=24, seed=5)
    out: list = []
    # Count the HTTP attempts in flight, so the kill lands once all three requests are out and
    # none has been answered: a condition, not a guess at how long generation takes.
    cond = threading.Condition()
    state = {"sent": 0, "answered": 0}
    send = served._request_once

    def counted(*args, **kwargs):
        with cond:
            state["sent"] += 1
            cond.notify_all()
        gen = send(*args, **kwargs)
        with cond:
            state["answered"] += 1
        return gen

    monkeypatch.setattr(served, "_request_once", counted)

    def worker():
        out.extend(served.generate([CHAT] * 3, n=2, temperature=1.0, max_tokens=24, seed=5))

    t = threading.Thread(target=worker)
    t.start()
    with cond:
        assert cond.wait_for(lambda: state["sent"] >= 3, timeout=120), state
        # The server is frozen before the check, so no answer can slip in between it and the
        # kill (24 tokens take the CPU model over a second, so none is out yet).
        os.killpg(pid, signal.SIGSTOP)
        in_flight = 3 - state["answered"]
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGCONT)  # any other process of its group may now exit
    assert in_flight > 0, "every request was answered before the kill"
    t.join(240)
    assert not t.is_alive()
    # The dropped requests were sent again with their seeds to a fresh server on the same URL.
    assert [g.texts for g in out] == [g.texts for g in expected]
    assert served.managed.proc.pid != pid and served.managed.base_url == url
    assert served.counters()["llm_server_restarts"] == 1


def test_restart_budget_spent_is_a_clear_error(served):
    served.max_restarts = served._restarts  # no restarts left
    os.kill(served.managed.proc.pid, signal.SIGKILL)
    served.managed.proc.wait(10)
    with pytest.raises(LLMError, match="max_restarts"):
        served.generate([CHAT], temperature=0, max_tokens=4)
    served.max_restarts += 1
    assert served.generate([CHAT], temperature=0, max_tokens=4)[0].texts[0]


def test_close_leaves_no_process(served):
    proc = served.managed.proc
    port = served.managed.port
    served.close()
    assert proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
