"""The openai_server backend against a real HTTP server on 127.0.0.1 serving the embedded model.

The server is `arm-exp serve-llm llm=smollm2_cpu`, started by the client itself (managed mode,
config llm=smollm2_server). The last tests kill it mid-run and check the restart (dropped
requests re-sent with their seeds), the error once the restart budget is spent, and that
closing leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest
from hydra.utils import instantiate

from arm_exp.llm.base import LLMError
from arm_exp.llm.managed import free_port
from arm_exp.llm.openai_server import OpenAIServerLLM

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
            "llm.max_total_wait_s=20",
            "llm.timeout_s=300",  # a loaded 2-core CI box can be slow
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


def test_connection_refused_is_a_clear_bounded_error():
    port = free_port()
    llm = OpenAIServerLLM(
        model="m", base_url=f"http://127.0.0.1:{port}/v1", max_total_wait_s=2, backoff_s=0.1
    )
    start = time.monotonic()
    with pytest.raises(LLMError, match=f"127.0.0.1:{port}"):
        llm.generate([CHAT], max_tokens=4)
    assert time.monotonic() - start < 10


def test_server_dying_mid_run_is_restarted_and_requests_resent(served):
    pid = served.managed.proc.pid
    url = served.managed.base_url
    expected = served.generate([CHAT] * 3, n=2, temperature=1.0, max_tokens=24, seed=5)
    out: list = []

    def worker():
        out.extend(served.generate([CHAT] * 3, n=2, temperature=1.0, max_tokens=24, seed=5))

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)
    t.join(240)
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
