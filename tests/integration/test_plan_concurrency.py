"""``plan`` with many tasks in flight: the same episodes at any ``plan.concurrency``, resumable.

Episodes are compared byte for byte after the canonical reorder, with the one field that cannot
repeat (``wall_s``, the task's wall time) blanked. Game of 24 runs at concurrency 1 and 8:
a random policy with the reward model (its forward passes shared by all tasks), and an LLM
policy judged by itself through one shared HTTP client (against the latency-simulating server).
ScienceWorld runs on its real engine, one JVM per task in flight.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from pathlib import Path

import pytest

from arm_exp.artifacts import load_manifest
from arm_exp.llm.sim_server import serve
from arm_exp.stages import plan
from tests.conftest import have_java, run_stage
from tests.integration.test_preemption import _interrupt

WALL = re.compile(rb'"wall_s": [0-9.e+-]+')
# Metrics that measure time or the run's width, not its results.
VOLATILE = ("wall_s", "time", "concurrency", "llm_request", "llm_peak_in_flight")


def same_bytes(a: Path, b: Path) -> bool:
    return WALL.sub(b"", a.read_bytes()) == WALL.sub(b"", b.read_bytes())


def results(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not any(x in k for x in VOLATILE)}


@pytest.fixture(scope="module")
def sim_url():
    server = serve(latency_s=0.01, capacity=64)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def sim_llm(url: str) -> list[str]:
    return ["policy=llm", "llm=openai_server", f"llm.base_url={url}", "llm.model=sim"]


def test_game24_rm_scored_mcts_is_the_same_at_concurrency_1_and_8(tmp_path, tiny_rm_ckpt):
    over = ["policy=random", "scorer=rm", f"rm_ckpt={tiny_rm_ckpt}", "planner=mcts",
            "planner.rollouts=6", "limit=16", "seed=3"]  # fmt: skip
    one = run_stage(plan, "plan", [*over, "plan.concurrency=1"], tmp_path / "c1")
    eight = run_stage(plan, "plan", [*over, "plan.concurrency=8"], tmp_path / "c8")
    assert eight["plan/test/concurrency"] == 8
    assert same_bytes(tmp_path / "c1" / "episodes.jsonl", tmp_path / "c8" / "episodes.jsonl")
    assert results(one) == results(eight)
    # Per-episode costs are each task's own: 6 rollouts, one reward-model call each.
    assert one["plan/test/rm_calls"] == 6 and one["plan/test/rm_items"] == 6


def test_game24_llm_policy_and_its_judge_are_the_same_at_concurrency_1_and_8(tmp_path, sim_url):
    over = [*sim_llm(sim_url), "scorer=policy_judge", "planner=reflexion", "planner.trials=3",
            "limit=12", "seed=4"]  # fmt: skip
    one = run_stage(plan, "plan", [*over, "plan.concurrency=1"], tmp_path / "c1")
    eight = run_stage(plan, "plan", [*over, "plan.concurrency=8"], tmp_path / "c8")
    assert same_bytes(tmp_path / "c1" / "episodes.jsonl", tmp_path / "c8" / "episodes.jsonl")
    assert results(one) == results(eight)
    # The policy and the judge share one client (one backend's request counts, unprefixed);
    # each role's calls are counted apart, per episode.
    assert eight["plan/test/llm_peak_in_flight"] > 1
    assert not any(k.startswith("plan/test/llm0_") for k in eight)
    assert one["plan/test/llm_calls"] >= 1 and one["plan/test/judge_llm_calls"] >= 1
    counts = load_manifest(tmp_path / "c8")["counts"]
    policy, judge = counts["policy_counters"], counts["scorer_counters"]
    # One request per prompt (no retries here): the roles' prompts add up to the backend's.
    assert policy["llm_prompts"] + judge["judge_llm_prompts"] == eight["plan/test/llm_requests"]
    assert judge["judge_calls"] == judge["judge_llm_calls"]


def test_game24_interrupted_at_concurrency_8_resumes_to_the_same_episodes(tmp_path):
    over = ["policy=random", "planner=best_of_n", "planner.n=4", "scorer=oracle",
            "split=train", "limit=60", "seed=2"]  # fmt: skip
    run_stage(plan, "plan", [*over, "plan.concurrency=1"], tmp_path / "ref")
    done = _interrupt(
        "plan", [*over, "plan.concurrency=8"], tmp_path / "cut", "episodes.jsonl", signal.SIGINT
    )
    assert done == 3  # stopped at its third episode, other tasks in flight
    run_stage(plan, "plan", [*over, "plan.concurrency=8"], tmp_path / "cut")
    assert load_manifest(tmp_path / "cut")["complete"]
    assert same_bytes(tmp_path / "ref" / "episodes.jsonl", tmp_path / "cut" / "episodes.jsonl")


SW = ["benchmark=scienceworld", "policy=random", "scorer=oracle", "planner=mcts",
      "planner.rollouts=3", "planner.expansion=2", "planner.horizon=4", "benchmark.max_steps=6",
      "benchmark.env.jvm_heap_mb=256", "task_ids=[boil/0,melt/0,freeze/0,boil/1]"]  # fmt: skip
needs_java = pytest.mark.skipif(not have_java(), reason="needs Java for ScienceWorld")


@pytest.fixture(scope="module")
def scienceworld_reference(tmp_path_factory):
    pytest.importorskip("scienceworld")
    out = tmp_path_factory.mktemp("sw") / "c1"
    return out, run_stage(plan, "plan", [*SW, "plan.concurrency=1"], out)


@pytest.mark.java
@needs_java
def test_scienceworld_mcts_is_the_same_at_concurrency_1_and_4(tmp_path, scienceworld_reference):
    ref, ref_metrics = scienceworld_reference
    four = run_stage(plan, "plan", [*SW, "plan.concurrency=4"], tmp_path / "c4")
    assert four["plan/seen/concurrency"] == 4
    assert same_bytes(ref / "episodes.jsonl", tmp_path / "c4" / "episodes.jsonl")
    assert results(ref_metrics) == results(four)
    episodes = [json.loads(x) for x in (ref / "episodes.jsonl").read_text().splitlines()]
    assert [e["task_id"] for e in episodes] == ["boil/0", "melt/0", "freeze/0", "boil/1"]


@pytest.mark.java
@needs_java
def test_scienceworld_interrupted_at_concurrency_2_resumes(tmp_path, scienceworld_reference):
    ref, _ = scienceworld_reference
    over = [*SW, "plan.concurrency=2"]  # two tasks still to come when the first two are done
    assert _interrupt("plan", over, tmp_path / "cut", "episodes.jsonl", signal.SIGINT, 1) == 1
    run_stage(plan, "plan", over, tmp_path / "cut")
    assert same_bytes(ref / "episodes.jsonl", tmp_path / "cut" / "episodes.jsonl")


def test_reward_scorer_shares_forward_passes_between_concurrent_calls(
    tiny_rm_ckpt, explored_game24
):
    from arm_exp.artifacts import read_records
    from arm_exp.reward.scorer import RewardScorer
    from arm_exp.types import Trajectory

    trajs = read_records(explored_game24 / "trajectories.jsonl", Trajectory.from_dict)[:16]
    plain = RewardScorer.from_checkpoint(tiny_rm_ckpt)
    merged = RewardScorer.from_checkpoint(tiny_rm_ckpt, merge_calls=True, merge_wait_s=0.05)
    expected = [plain.score([t.intent], [t])[0] for t in trajs]
    got: dict[int, float] = {}
    barrier = threading.Barrier(len(trajs))

    def task(k: int) -> None:
        barrier.wait()  # sixteen tasks score at the same time
        got[k] = merged.score([trajs[k].intent], [trajs[k]])[0]

    threads = [threading.Thread(target=task, args=(k,)) for k in range(len(trajs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c = merged.counters()
    assert c["rm_calls"] == 16 and c["rm_batches"] < 16  # calls shared forward passes
    # Equal up to float rounding (a batch's shape changes the kernels' summation order).
    assert [got[k] for k in range(16)] == pytest.approx(expected, abs=1e-5)
    # The cache is shared: the same items again are all hits, whoever asks.
    assert merged.score([t.intent for t in trajs], trajs) == [got[k] for k in range(16)]
    assert merged.counters()["rm_cache_hits"] == 16
    merged.close()


def test_webshop_envs_share_one_index_across_task_threads(tmp_path):
    """WebShop's envs share the catalog and the search index (and its query cache) of their
    process; four tasks searching from four threads give the episodes of one at a time."""
    pytest.importorskip("bm25s")
    over = ["benchmark=webshop", "policy=random", "scorer=oracle", "planner=best_of_n",
            "planner.n=3", "limit=8", "seed=1"]  # fmt: skip
    run_stage(plan, "plan", [*over, "plan.concurrency=1"], tmp_path / "c1")
    run_stage(plan, "plan", [*over, "plan.concurrency=4"], tmp_path / "c4")
    assert same_bytes(tmp_path / "c1" / "episodes.jsonl", tmp_path / "c4" / "episodes.jsonl")
