"""``scorer=vllm_pooling``: reward-model scores from a pooling server over HTTP.

In ``make test``, against a real local HTTP server of our own that answers vLLM's ``/pooling``
the way vLLM does, computing each logit with the exported folder's own classifier: the ids it
receives are our tokenizer's (head capped, tail kept), scores are raw logits plus the head's
bias, batched, cached, several requests in flight, 5xx retried and 4xx not. In ``make
test-vllm`` (marker ``vllm``), against a real ``vllm serve <folder> --runner pooling`` on CPU
started by the scorer's managed server: the same scores as the checkpoint in process, and a
Best-of-N plan through it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

import pytest
import torch

from arm_exp.errors import ArtifactError
from arm_exp.reward.hf import HFRewardModel
from arm_exp.reward.scorer import RewardScorer
from arm_exp.reward.vllm_pooling import PoolingServerError, VLLMPoolingScorer
from arm_exp.serving import JsonHandler, make_server
from arm_exp.stages import export, plan
from arm_exp.types import Episode, Triplet
from tests.conftest import run_stage
from tests.integration.conftest import requires_vllm_venv

# The in-process scorer and vLLM differ in their float32 kernels (attention, matmul order):
# measured 5e-6 on SmolLM2 at 64 tokens; scores that rank candidates differ by 1e-2 and more.
TOL = 1e-4


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_decoder_rm_ckpt):
    out = tmp_path_factory.mktemp("pooling_export") / "run"
    run_stage(export, "export", [f"rm_ckpt={tiny_decoder_rm_ckpt}"], out)
    return out / export.FOLDER


@pytest.fixture(scope="module")
def pairs(triplets_game24):
    """Eight distinct items of two lengths: four trajectories as they are, four cut short."""
    trips = [Triplet.from_dict(json.loads(x)) for x in (triplets_game24 / "triplets.jsonl").open()]
    unique = list({t.id: t for x in trips for t in (x.positive, x.negative)}.values())[:4]
    short = [
        dataclasses.replace(t, intent=f"24 #{k}", initial_observation="")
        for k, t in enumerate(unique)
    ]
    trajs = unique + [dataclasses.replace(t, steps=t.steps[:1]) for t in short]
    intents = [t.intent for t in trajs]
    assert len({(i, str(t.steps)) for i, t in zip(intents, trajs, strict=True)}) == 8
    return intents, trajs


class PoolingHandler(JsonHandler):
    """vLLM's ``/pooling`` for a sequence classifier: ``data[i].data == [logit]``."""

    classifier: HFRewardModel
    seen: list[dict[str, Any]]
    faults: list[str]
    barrier: threading.Barrier | None
    lock: threading.Lock

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/health":
            return 200, {}
        if (method, path) != ("POST", "/pooling"):
            return 404, {"error": {"message": f"no route {method} {path}"}}
        with self.lock:
            self.seen.append(body)
            fault = self.faults.pop(0) if self.faults else None
            barrier = self.barrier
        if barrier is not None:
            barrier.wait()  # held until `parties` requests are in flight at once
        if fault == "503":
            return 503, {"error": {"message": "overloaded"}}
        if fault == "400":
            return 400, {"error": {"message": "bad input"}}
        ids = body["input"]
        with self.lock, torch.inference_mode():
            batch = self.classifier.collate(ids)
            logits = self.classifier.classifier(**batch).logits
        rows = logits.tolist() if fault != "two" else [[x[0], -x[0]] for x in logits.tolist()]
        return 200, {"data": [{"index": i, "data": r} for i, r in enumerate(rows)]}


@pytest.fixture
def server(folder):
    httpd = make_server(
        "127.0.0.1",
        0,
        PoolingHandler,
        classifier=HFRewardModel(folder),
        seen=[],
        faults=[],
        barrier=None,
        lock=threading.Lock(),
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _client(folder, server, **kw) -> VLLMPoolingScorer:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return VLLMPoolingScorer(str(folder), base_url=url, backoff_s=0.01, **kw)


def test_scores_are_the_servers_raw_logits_plus_the_bias_batched_and_cached(
    folder, server, pairs, tiny_decoder_rm_ckpt
):
    handler = server.RequestHandlerClass
    handler.barrier = threading.Barrier(4, timeout=60)  # four requests must be out at once
    scorer = _client(folder, server, batch_size=2, max_concurrency=4)
    intents, trajs = pairs
    try:
        scores = scorer.score(intents, trajs)
    finally:
        handler.barrier = None
    reference = RewardScorer.from_checkpoint(tiny_decoder_rm_ckpt).score(intents, trajs)
    assert scores == pytest.approx(reference, abs=TOL)
    # Token ids as our tokenizer and truncation made them, raw logits asked for.
    rendered = [scorer.renderer.render(i, t) for i, t in zip(intents, trajs, strict=True)]
    expected = HFRewardModel(folder, weights=False).encode(rendered)
    sent = [ids for body in handler.seen for ids in body["input"]]
    assert sorted(sent) == sorted(expected) and len({len(x) for x in sent}) > 1
    assert all(b["use_activation"] is False and b["task"] == "classify" for b in handler.seen)
    c = scorer.counters()
    assert c["rm_requests"] == c["rm_batches"] == 4 and c["rm_peak_in_flight"] == 4
    assert c["rm_retries"] == 0 and c["rm_forward_items"] == 8
    # Cached: asking again sends nothing.
    assert scorer.score(intents, trajs) == scores
    assert scorer.counters()["rm_requests"] == 4 and len(handler.seen) == 4
    assert scorer.lineage["reward_model"] and scorer.calibration.negative


def test_a_5xx_is_retried_and_a_4xx_is_a_clear_error(folder, server, pairs):
    handler = server.RequestHandlerClass
    intents, trajs = pairs
    handler.faults[:] = ["503"]
    scorer = _client(folder, server, batch_size=8)
    scores = scorer.score(intents[:2], trajs[:2])
    assert len(scores) == 2 and scorer.counters()["rm_retries"] == 1
    handler.faults[:] = ["400"]
    with pytest.raises(PoolingServerError, match=r"rejected the request \(HTTP 400\): .*bad input"):
        scorer.score(intents[2:4], trajs[2:4])
    assert scorer.counters()["rm_retries"] == 1
    handler.faults[:] = ["two"]
    with pytest.raises(PoolingServerError, match="not one logit"):
        scorer.score(intents[4:6], trajs[4:6])


def test_an_unreachable_server_fails_within_the_bounded_wait(folder, pairs):
    from arm_exp.llm.managed import free_port

    scorer = VLLMPoolingScorer(
        str(folder),
        base_url=f"http://127.0.0.1:{free_port()}",
        max_retries=2,
        backoff_s=0.01,
        max_total_wait_s=5,
    )
    intents, trajs = pairs
    with pytest.raises(PoolingServerError, match="failed after 3 attempts"):
        scorer.score(intents[:1], trajs[:1])


def test_the_scorer_needs_a_folder(tiny_decoder_rm_ckpt):
    with pytest.raises(ArtifactError, match="export the checkpoint first"):
        VLLMPoolingScorer(str(tiny_decoder_rm_ckpt), base_url="http://127.0.0.1:1")


@pytest.mark.vllm
@requires_vllm_venv
def test_vllm_serves_the_exported_decoder_and_best_of_n_plans_through_it(
    tmp_path, folder, pairs, tiny_decoder_rm_ckpt
):
    """The managed ``vllm serve <folder> --runner pooling`` of ``scorer=vllm_pooling``: scores
    equal the in-process scorer's within TOL, and a Best-of-N plan ranks by them."""
    from hydra.utils import instantiate

    from arm_exp.config import compose
    from tests.conftest import ROOT

    overrides = [f"paths.root_dir={ROOT}", "scorer=vllm_pooling", f"rm_ckpt={folder}"]
    cfg = compose("plan", overrides, tmp_path / "compose")
    scorer = instantiate(cfg.scorer)
    intents, trajs = pairs
    reference = RewardScorer.from_checkpoint(tiny_decoder_rm_ckpt)
    try:
        scores = scorer.score(intents, trajs)
        assert scorer.counters()["rm_requests"] >= 1
    finally:
        scorer.close()
    assert not scorer.server.alive()
    assert scores == pytest.approx(reference.score(intents, trajs), abs=TOL)
    run_dir = tmp_path / "plan"
    m = run_stage(
        plan,
        "plan",
        [
            "scorer=vllm_pooling",
            f"rm_ckpt={folder}",
            "policy=random",
            "planner=best_of_n",
            "planner.n=4",
            "limit=2",
        ],
        run_dir,
    )
    assert m["plan/test/n_tasks"] == 2
    counts = json.loads((run_dir / "manifest.json").read_text())["counts"]
    assert counts["scorer_counters"]["rm_requests"] >= 1
    for line in (run_dir / "episodes.jsonl").read_text().splitlines():
        e = Episode.from_dict(json.loads(line))
        got = [c.scorer_score for c in e.candidates]
        assert len(got) == 4 and e.scorer_score == max(got)
        want = reference.score([e.trajectory.intent], [e.trajectory])
        assert e.scorer_score == pytest.approx(want[0], abs=TOL)
