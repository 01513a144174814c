"""The reward model: real MiniLM training on CPU, checkpoint -> scorer, cache, DDP on CPU."""

from __future__ import annotations

import json
import math
import pickle

import pytest
import torch

from arm_exp.artifacts import JsonlError
from arm_exp.errors import ArtifactError
from arm_exp.reward.scorer import RewardScorer
from arm_exp.stages import train
from arm_exp.types import Triplet
from tests.conftest import run_stage, write_poisoned_checkpoint

FAST = [
    "reward_model.max_length=96",
    "train.optimizer.lr=1e-4",
    "train.data.batch_size=8",
    "train.data.val_fraction=0.25",
    "trainer.max_epochs=1",
    "trainer.max_steps=24",
    "trainer.enable_progress_bar=false",
]


def _binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2): how likely this accuracy is under chance."""
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n


@pytest.fixture(scope="module")
def trained(tmp_path_factory, triplets_game24):
    out = tmp_path_factory.mktemp("train") / "run"
    metrics = run_stage(train, "train", [f"input_dir={triplets_game24}", *FAST], out)
    return out, metrics


def _sample(triplets_dir, n=40) -> list[Triplet]:
    lines = (triplets_dir / "triplets.jsonl").read_text().splitlines()[:n]
    return [Triplet.from_dict(json.loads(x)) for x in lines]


def test_val_pair_accuracy_rises_clearly_above_chance(trained):
    _, m = trained
    n = int(m["rm/data/val_pairs"])
    k = round(m["rm/val/pair_acc"] * n)
    assert n >= 50
    assert _binomial_tail(k, n) < 1e-3, (k, n)  # not explainable by chance
    assert m["rm/val/pair_acc"] > m["rm/val/pair_acc_init"]
    assert m["rm/train/pairs_per_s"] > 0 and m["rm/train/steps"] == 24


def test_checkpoint_to_scorer_round_trip(trained, triplets_game24):
    run_dir, _ = trained
    triplets = _sample(triplets_game24)
    intents = [t.intent for t in triplets] * 2
    trajs = [t.positive for t in triplets] + [t.negative for t in triplets]
    a = RewardScorer.from_checkpoint(run_dir)  # a train run dir resolves to checkpoints/best.ckpt
    b = RewardScorer.from_checkpoint(run_dir / "checkpoints" / "best.ckpt")
    sa, sb = a.score(intents, trajs), b.score(intents, trajs)
    assert sa == sb
    # The checkpoint's weights, loaded by hand into the scorer's model, give the same numbers.
    state = torch.load(
        run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
    )["state_dict"]
    b.model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    b.clear_cache()
    assert b.score(intents, trajs) == pytest.approx(sa, abs=1e-6)
    # Batched with length bucketing equals one at a time.
    assert a.score_one_at_a_time(intents[:10], trajs[:10]) == pytest.approx(sa[:10], abs=1e-4)
    # The model separates positives from negatives on (mostly training) data.
    wins = sum(p > n for p, n in zip(sa[: len(triplets)], sa[len(triplets) :], strict=True))
    assert wins > len(triplets) / 2


def test_cache_returns_identical_scores_and_counts_hits(trained, triplets_game24):
    run_dir, _ = trained
    triplets = _sample(triplets_game24, 10)
    scorer = RewardScorer.from_checkpoint(run_dir)
    intents, trajs = [t.intent for t in triplets], [t.negative for t in triplets]
    first = scorer.score(intents, trajs)
    c1 = scorer.counters()
    again = scorer.score(intents + intents[:3], trajs + trajs[:3])
    c2 = scorer.counters()
    assert again == first + first[:3]
    assert c2["rm_cache_hits"] - c1["rm_cache_hits"] == 13
    assert c2["rm_forward_items"] == c1["rm_forward_items"]  # nothing recomputed
    assert c1["rm_batches"] >= 1 and c2["rm_calls"] == 2


def test_calibration_stored_in_checkpoint(trained):
    run_dir, m = trained
    scorer = RewardScorer.from_checkpoint(run_dir)
    n_val = int(m["rm/data/val_pairs"])
    assert len(scorer.calibration.negative) == n_val
    assert scorer.threshold(0.9, "negative") >= scorer.threshold(0.5, "negative")


def test_second_run_reuses_the_finished_one(trained, triplets_game24):
    run_dir, m = trained
    assert run_stage(train, "train", [f"input_dir={triplets_game24}", *FAST], run_dir) == m


def test_ddp_sim_trains_two_steps_in_two_processes(triplets_game24, tmp_path):
    run_stage(
        train,
        "train",
        [
            f"input_dir={triplets_game24}",
            "trainer=ddp_sim",
            "trainer.max_steps=2",
            "reward_model.max_length=48",
            "train.data.batch_size=4",
            "train.data.val_fraction=0.1",
        ],
        tmp_path,
    )
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 2
    assert RewardScorer.from_checkpoint(tmp_path).score(
        ["x"], [_sample(triplets_game24, 1)[0].positive]
    )


def test_bad_inputs_are_clear_errors(tmp_path, trained):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "triplets.jsonl").write_text('{"id": "a", "benchmark": "game24", "intent": "x"}\n')
    with pytest.raises(JsonlError, match=r"triplets\.jsonl:1"):
        run_stage(train, "train", [f"input_dir={bad}", *FAST], tmp_path / "out")
    with pytest.raises(ArtifactError, match="no such file"):
        RewardScorer.from_checkpoint(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ArtifactError, match="not a readable checkpoint"):
        RewardScorer.from_checkpoint(tmp_path / "junk.ckpt")


@pytest.mark.parametrize("old_torch_default", [False, True], ids=["torch-default", "no-wo-default"])
def test_resume_refuses_a_pickled_payload_in_last_ckpt(
    triplets_game24, tmp_path, monkeypatch, old_torch_default
):
    """`arm-exp train` resumes from the run dir's checkpoints/last.ckpt: a planted one carrying
    a pickled payload stops the run before any training step, and the payload never runs."""
    if old_torch_default:
        # torch < 2.6 (allowed by pyproject) unpickles anything unless told weights_only=True;
        # this variable restores that default, so only the call site's own flag protects us.
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "payload-ran"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    write_poisoned_checkpoint(run / "checkpoints" / "last.ckpt", marker, {"global_step": 5})
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        run_stage(train, "train", [f"input_dir={triplets_game24}", *FAST], run)
    assert not marker.exists()
    assert not (run / "checkpoints" / "best.ckpt").exists() and not (run / "metrics.json").exists()


def test_serve_rm_batches_concurrent_requests(tiny_rm_ckpt, triplets_game24):
    import threading
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from arm_exp.stages.serve_rm import serve
    from arm_exp.types import to_dict

    scorer = RewardScorer.from_checkpoint(tiny_rm_ckpt)
    server = serve(scorer, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/score"
    triplets = _sample(triplets_game24, 16)
    expected = RewardScorer.from_checkpoint(tiny_rm_ckpt).score(
        [t.intent for t in triplets], [t.negative for t in triplets]
    )

    def post(t):
        body = json.dumps({"intents": [t.intent], "trajectories": [to_dict(t.negative)]}).encode()
        req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["scores"][0]

    try:
        with ThreadPoolExecutor(16) as pool:
            got = list(pool.map(post, triplets))
        assert got == pytest.approx(expected, abs=1e-5)
        assert scorer.counters()["rm_calls"] < len(triplets)  # concurrent requests were merged
        bad = urllib.request.Request(
            url, b'{"intents": ["x"]}', {"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bad, timeout=10)
        assert e.value.code == 400
    finally:
        server.shutdown()
