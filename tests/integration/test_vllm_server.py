"""A real vLLM server on CPU (``llm=smollm2_vllm_cpu``) behind the ``openai_server`` client.

Checks what planning relies on: ``n`` samples, seeds, stop strings, logprobs, exact token
counts, concurrent requests, the explore stage through the server, ``arm-exp serve-llm``
start/stop, and a server killed mid-run (restart, resume: nothing lost or duplicated).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest

from arm_exp.errors import LLMError
from arm_exp.stages import explore
from arm_exp.types import Trajectory
from tests.conftest import ROOT
from tests.integration.conftest import (
    group_pids,
    kill_server_when,
    requires_vllm_venv,
    vllm_pids,
)
from tests.integration.interrupt import start

pytestmark = [pytest.mark.vllm, requires_vllm_venv]

CHAT = [{"role": "user", "content": "Name a fruit."}]
STORY = [{"role": "user", "content": "Tell me a story about a cat."}]


def test_n_samples_token_counts_and_logprobs(vllm_server, smollm2):
    gens = vllm_server.generate([STORY, "Once upon a time"], n=5, temperature=1.0, max_tokens=12)
    assert [len(g.texts) for g in gens] == [5, 5]
    assert len(set(gens[0].texts)) > 1, "n samples at T=1 should differ"
    # The same tokenizer and chat template (the converted folder) count the same prompt tokens.
    tok = smollm2.tokenizer
    chat_ids = tok(smollm2.render(STORY), add_special_tokens=False)["input_ids"]
    assert gens[0].prompt_tokens == len(chat_ids)
    assert gens[1].prompt_tokens == len(tok("Once upon a time")["input_ids"])
    for g in gens:
        # Exact per-sample counts (vLLM's token_ids): a sample cut by max_tokens has 12 tokens.
        assert len(g.completion_tokens) == 5
        for text, k, reason in zip(g.texts, g.completion_tokens, g.finish_reasons, strict=True):
            assert 1 <= k <= 12 and (k == 12) == (reason == "length"), (text, k, reason)
    before = vllm_server.counters()
    lp = vllm_server.__class__(
        model=vllm_server.model,
        base_url=vllm_server.managed.base_url + "/v1",
        logprobs=True,
        extra_body={"return_token_ids": True},
    )
    try:
        g = lp.generate([CHAT], n=3, temperature=1.0, max_tokens=8, seed=1)[0]
        assert g.logprobs is not None and len(g.logprobs) == 3 and all(x < 0 for x in g.logprobs)
        assert lp.counters()["completion_tokens"] == sum(g.completion_tokens)
    finally:
        lp.close()
    assert vllm_server.counters() == before  # counters live on each client object


def test_seeds_reproduce_and_differ(vllm_server):
    kw = dict(n=3, temperature=1.0, max_tokens=16)
    a = vllm_server.generate([CHAT, STORY], seed=7, **kw)
    b = vllm_server.generate([CHAT, STORY], seed=7, **kw)
    c = vllm_server.generate([CHAT, STORY], seed=8, **kw)
    assert [g.texts for g in a] == [g.texts for g in b]
    assert [g.texts for g in a] != [g.texts for g in c]
    # Prompt i of a batch uses seed + i: the second prompt alone with seed 8 repeats it.
    assert vllm_server.generate([STORY], seed=8, **kw)[0].texts == a[1].texts


def test_stop_strings_and_greedy_matches_transformers(vllm_server, smollm2):
    g = vllm_server.generate([STORY], temperature=0, max_tokens=40, stop=["\n", "."])[0]
    assert g.texts[0] and "\n" not in g.texts[0] and "." not in g.texts[0]
    assert g.finish_reasons[0] == "stop"
    # The same weights in float32 through transformers give the same greedy tokens.
    ours = vllm_server.generate([CHAT], temperature=0, max_tokens=8)[0].texts[0]
    theirs = smollm2.generate([CHAT], temperature=0, max_tokens=8)[0].texts[0]
    assert ours == theirs


def test_concurrent_requests_keep_their_order(vllm_server):
    prompts = [[{"role": "user", "content": f"Write the number {i} in words."}] for i in range(16)]
    calls = vllm_server.counters()["llm_calls"]
    gens = vllm_server.generate(prompts, temperature=0, max_tokens=6)
    assert len(gens) == 16 and all(g.texts[0] for g in gens)
    assert vllm_server.counters()["llm_calls"] == calls + 1
    solo = [vllm_server.generate([p], temperature=0, max_tokens=6)[0] for p in prompts[:3]]
    assert [g.texts for g in gens[:3]] == [g.texts for g in solo]


def _trajectories(path):
    return [Trajectory.from_dict(json.loads(x)) for x in path.read_text().splitlines()]


EXPLORE = [
    "explorer=llm",
    "split=test",
    "explore.num_per_task=2",
    "benchmark.max_steps=4",
    "explore.invalid_action_retries=1",
    "benchmark.agent.max_tokens=48",
    "seed=5",
]


def test_explore_game24_through_vllm(make_cfg, tmp_path, vllm_stage_overrides):
    cfg = make_cfg(
        "explore", [*EXPLORE, *vllm_stage_overrides, "task_ids=[900,901,902]"], tmp_path / "e"
    )
    metrics = explore.run(cfg)
    trajs = _trajectories(tmp_path / "e" / "trajectories.jsonl")
    assert [t.id for t in trajs] == [f"{t}#{k}" for t in (900, 901, 902) for k in range(2)]
    assert all(1 <= len(t.steps) <= 4 and t.steps[-1].action for t in trajs)
    m = {k.split("/")[-1]: v for k, v in metrics.items()}
    assert m["llm_calls"] == m["policy_calls"] >= 1  # one batched generate per tick
    assert m["llm_prompts"] == m["proposals"]
    assert m["completion_tokens"] > 0 and m["prompt_tokens"] > 100 * m["llm_prompts"]


def _explore_killed(make_cfg, run_dir, extra):
    """Run explore through a managed vLLM server and SIGKILL the server once a trajectory is
    written; returns (the kill info, the stage's exception or None)."""
    cfg = make_cfg(
        "explore",
        [*EXPLORE, "llm=smollm2_vllm_cpu", "task_ids=[903,904,905,906]", "explore.num_envs=2"]
        + extra,
        run_dir,
    )
    out = run_dir / "trajectories.jsonl"
    killed: dict = {}
    watcher = threading.Thread(
        target=lambda: killed.update(
            kill_server_when(run_dir, lambda: out.exists() and out.stat().st_size > 0)
        ),
        daemon=True,
    )
    watcher.start()
    error = None
    try:
        explore.run(cfg)
    except LLMError as e:
        error = e
    watcher.join(5)
    return killed, error


def test_server_killed_mid_run_is_restarted_nothing_lost(make_cfg, tmp_path):
    run_dir = tmp_path / "restart"
    killed, error = _explore_killed(make_cfg, run_dir, [])
    assert error is None and killed, "the server must be killed while explore runs"
    trajs = _trajectories(run_dir / "trajectories.jsonl")
    ids = [t.id for t in trajs]
    assert ids == [f"{t}#{k}" for t in (903, 904, 905, 906) for k in range(2)]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["explore/test/llm_server_restarts"] == 1
    # No orphans: the killed server's workers were reaped, the restarted server was stopped.
    assert group_pids(killed["pid"]) == [] and vllm_pids(killed["port"]) == []


def test_server_killed_without_restarts_then_resume(make_cfg, tmp_path):
    run_dir = tmp_path / "resume"
    killed, error = _explore_killed(make_cfg, run_dir, ["llm.max_restarts=0"])
    assert killed and error is not None
    assert f"127.0.0.1:{killed['port']}" in str(error) and "max_restarts=0" in str(error)
    out = run_dir / "trajectories.jsonl"
    partial = [line for line in out.read_text().splitlines() if line.strip()]
    assert partial, "explore must have written records before the kill"
    assert group_pids(killed["pid"]) == [] and vllm_pids(killed["port"]) == []
    # Same config, same run dir: a new server starts and the run resumes.
    cfg = make_cfg(
        "explore",
        [
            *EXPLORE,
            "llm=smollm2_vllm_cpu",
            "task_ids=[903,904,905,906]",
            "explore.num_envs=2",
            "llm.max_restarts=0",
        ],
        run_dir,
    )
    explore.run(cfg)
    lines = out.read_text().splitlines()
    ids = Counter(json.loads(x)["id"] for x in lines)
    assert sorted(ids) == sorted(f"{t}#{k}" for t in (903, 904, 905, 906) for k in range(2))
    assert set(ids.values()) == {1}, "nothing duplicated"
    assert set(partial) <= set(lines), "records written before the kill are kept as they were"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["complete"] and manifest["counts"]["resumed"] == len(partial)


def test_serve_llm_cli_stops_vllm_on_ctrl_c(tmp_path):
    proc = start(
        ["arm_exp.cli", "serve-llm", "llm=smollm2_vllm_cpu", f"paths.root_dir={ROOT}",
         f"hydra.run.dir={tmp_path}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = None
        deadline = time.monotonic() + 600
        assert proc.stdout is not None
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            if line.startswith("serving "):
                url = line.split(" at ")[1].split()[0]
        assert url, "serve-llm did not report a URL"
        import urllib.request

        with urllib.request.urlopen(url + "/models", timeout=10) as r:
            assert "smollm2-135m-instruct" in r.read().decode()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        (leader,) = vllm_pids(port)
        assert len(group_pids(leader)) >= 2  # the API server and its engine process(es)
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        deadline = time.monotonic() + 30
        while group_pids(leader) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert group_pids(leader) == [], "vLLM processes outlived serve-llm"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
