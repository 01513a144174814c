"""The decoder reward model for real: the embedded SmolLM2-135M with ARMAP's LoRA, on CPU.

``reward_model=smollm2_135m`` trained through the same Lightning module and stage as MiniLM, at a
short max length and for a few steps so the file stays cheap: the loss falls on a fixed batch,
only the LoRA adapters and the head train, checkpoint -> scorer reproduces the in-memory model,
left padding leaves a score alone, a resumed run ends where an uninterrupted one does, and
``trainer=ddp_sim`` and ``trainer=fsdp_sim`` (bf16 base weights) run it on 2 CPU processes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from arm_exp.config import compose
from arm_exp.reward.callbacks import EpochCheckpoint
from arm_exp.reward.data import TripletDataModule
from arm_exp.reward.module import RewardModule
from arm_exp.reward.render import Renderer
from arm_exp.reward.scorer import RewardScorer
from arm_exp.stages import train
from arm_exp.types import Triplet
from tests.conftest import ROOT, assert_resumed_like_uninterrupted, run_stage

# 48 tokens: the task, the last action and the closing question (ARMAP's reward models read up to
# 4096; the tail is kept, so positives and negatives still differ).
DECODER = ["reward_model=smollm2_135m", "reward_model.max_length=48"]
# Stage runs: one batch of 2 pairs per epoch and per validation (the data module still splits
# all triplets; Lightning stops each loop after one batch), LoRA rank 8 so that the several
# checkpoints each run writes are 8x smaller (the fixed-batch tests train ARMAP's rank 64).
STAGE = [
    *DECODER,
    "reward_model.lora.r=8",
    "train.optimizer.lr=1e-3",
    "train.data.batch_size=2",
    "train.data.val_fraction=0.1",
    "+trainer.limit_train_batches=1",
    "+trainer.limit_val_batches=1",
    "trainer.enable_progress_bar=false",
]
FIXED_STEPS = 4


def _triplets(triplets_dir, n: int) -> list[Triplet]:
    lines = (triplets_dir / "triplets.jsonl").read_text().splitlines()[:n]
    return [Triplet.from_dict(json.loads(x)) for x in lines]


def _scores(model, pairs: list[tuple[str, str]]) -> list[float]:
    """The in-memory model's rewards for rendered pairs, one forward pass."""
    with torch.inference_mode():
        return model(**model.collate(model.encode(pairs))).tolist()


@pytest.fixture(scope="module")
def fixed_batch(tmp_path_factory, triplets_game24):
    """A RewardModule built from ``reward_model=smollm2_135m``, trained FIXED_STEPS steps on one
    batch by the trainer config, then checkpointed by Lightning."""
    out = tmp_path_factory.mktemp("decoder_fixed")
    cfg = compose(
        "train",
        [f"paths.root_dir={ROOT}", f"input_dir={triplets_game24}", *DECODER],
        out / "compose",
    )
    torch.manual_seed(0)
    renderer = Renderer(**cfg.benchmark.render)
    module = RewardModule(
        spec=instantiate(cfg.reward_model),
        loss=instantiate(cfg.loss),
        optimizer=instantiate(cfg.train.optimizer, lr=1e-3),
        renderer=renderer,
    )
    data = TripletDataModule(
        str(triplets_game24 / "triplets.jsonl"),
        renderer,
        module.model.encode,
        module.model.collate,
        batch_size=2,
        val_fraction=0.0,
    )
    data.setup()
    batch = next(iter(data.train_dataloader()))

    def loss() -> float:
        module.model.eval()
        with torch.no_grad():
            value = float(module._step(batch)["loss"])
        module.model.train()
        return value

    before = loss()
    trainer = instantiate(
        cfg.trainer,
        max_steps=FIXED_STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=str(out),
    )
    trainer.fit(module, train_dataloaders=DataLoader([batch] * FIXED_STEPS, batch_size=None))
    after = loss()
    ckpt = out / "fixed.ckpt"
    trainer.save_checkpoint(str(ckpt), weights_only=True)
    module.model.eval()
    return {"module": module, "before": before, "after": after, "ckpt": ckpt, "trainer": trainer}


@pytest.fixture(scope="module")
def scorer(fixed_batch) -> RewardScorer:
    return RewardScorer.from_checkpoint(fixed_batch["ckpt"])


def test_loss_goes_down_on_a_fixed_batch(fixed_batch):
    assert fixed_batch["trainer"].global_step == FIXED_STEPS
    assert fixed_batch["after"] < 0.8 * fixed_batch["before"], fixed_batch


def test_only_lora_and_the_head_train(fixed_batch, scorer):
    model = fixed_batch["module"].model
    cfg = model.backbone.config
    # ARMAP's LoRA (r=64 on q/k/v/o/gate/up/down): r * (in + out) per adapted projection.
    r, h, inter = 64, cfg.hidden_size, cfg.intermediate_size
    head_dim = getattr(cfg, "head_dim", None) or h // cfg.num_attention_heads
    q, kv = cfg.num_attention_heads * head_dim, cfg.num_key_value_heads * head_dim
    shapes = [(h, q), (h, kv), (h, kv), (q, h), (h, inter), (h, inter), (inter, h)]
    per_layer = sum(r * (i + o) for i, o in shapes)
    expected = cfg.num_hidden_layers * per_layer + h + 1  # + the head's weight and bias
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert sum(p.numel() for p in trainable.values()) == expected
    assert all("lora_" in n or n.startswith("head.") for n in trainable)
    # The adapters moved (lora_B starts at zero), the base weights did not: a model built from
    # the spec reads them fresh from the converted SmolLM2 folder.
    assert all(p.abs().sum() > 0 for n, p in trainable.items() if "lora_B" in n)
    fresh = dict(model.spec.build("cpu").named_parameters())
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert torch.equal(p, fresh[n]), n


def test_checkpoint_holds_adapters_and_head_and_scores_like_the_model(
    fixed_batch, scorer, triplets_game24
):
    ckpt = torch.load(fixed_batch["ckpt"], map_location="cpu", weights_only=True)
    keys = list(ckpt["state_dict"])
    assert keys and all("lora_" in k or k.startswith("model.head.") for k in keys)
    assert ckpt["arm_exp"]["spec"]["lora"]["r"] == 64
    triplets = _triplets(triplets_game24, 6)
    intents = [t.intent for t in triplets] * 2
    trajs = [t.positive for t in triplets] + [t.negative for t in triplets]
    renderer = fixed_batch["module"].renderer
    expected = _scores(
        fixed_batch["module"].model,
        [renderer.render(i, t) for i, t in zip(intents, trajs, strict=True)],
    )
    # The scorer runs the adapters merged into the base weights: the same scores up to float32
    # rounding (W + BA summed once vs x@W + (x@A)@B per call: ~1.5e-5 measured).
    assert not [n for n, _ in scorer.model.named_parameters() if "lora_" in n]
    assert scorer.score(intents, trajs) == pytest.approx(expected, abs=1e-4)


def test_a_bf16_scorer_runs_adapters_in_the_base_dtype(
    fixed_batch, scorer, triplets_game24, tmp_path
):
    """On a GPU the base is bf16: the scorer must not run float32 adapters beside it (a float32
    copy of every adapted activation): every backbone weight is bf16, and the scores stay those
    of the float32 model up to bf16 rounding (a merge into bf16 weights would not: 27% off)."""
    ckpt = torch.load(fixed_batch["ckpt"], map_location="cpu", weights_only=True)
    ckpt["arm_exp"]["spec"]["dtype"] = "bfloat16"
    path = tmp_path / "bf16.ckpt"
    torch.save(ckpt, path)
    bf16 = RewardScorer.from_checkpoint(path, device="cpu")
    assert {p.dtype for p in bf16.model.backbone.parameters()} == {torch.bfloat16}
    triplets = _triplets(triplets_game24, 4)
    intents = [t.intent for t in triplets]
    trajs = [t.positive for t in triplets]
    # bf16 keeps 8 bits of mantissa; over 30 layers the scores drift from float32's (measured:
    # 0.367 vs 0.450 here); a merge into the bf16 weights lost the adapters' update (0.132).
    ref = scorer.score(intents, trajs)
    scale = max(1.0, *(abs(x) for x in ref))
    assert bf16.score(intents, trajs) == pytest.approx(ref, abs=0.1 * scale)


def test_left_padding_does_not_change_a_score(scorer, triplets_game24):
    triplets = _triplets(triplets_game24, 4)
    pairs = [scorer.renderer.render(t.intent, t.negative) for t in triplets]
    pairs.append(("User: a task", "Agent: one short step"))
    model = scorer.model
    lengths = [len(ids) for ids in model.encode(pairs)]
    assert min(lengths) < max(lengths)  # the batch really pads
    together = _scores(model, pairs)
    alone = [_scores(model, [p])[0] for p in pairs]
    assert together == pytest.approx(alone, abs=1e-5)


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, triplets_game24, monkeypatch):
    over = [f"input_dir={triplets_game24}", *STAGE, "trainer.max_epochs=2"]
    ref = run_stage(train, "train", over, tmp_path / "ref")

    save = EpochCheckpoint.on_train_epoch_end

    def preempted_after_epoch_0(self, trainer, module):
        save(self, trainer, module)
        if trainer.current_epoch == 0:
            raise RuntimeError("preempted")

    cut = tmp_path / "cut"
    with monkeypatch.context() as m:
        m.setattr(EpochCheckpoint, "on_train_epoch_end", preempted_after_epoch_0)
        with pytest.raises(RuntimeError, match="preempted"):
            run_stage(train, "train", over, cut)
    last = cut / "checkpoints" / "last.ckpt"
    step_at_cut = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    resumed = run_stage(train, "train", over, cut)

    assert_resumed_like_uninterrupted(
        tmp_path / "ref" / "checkpoints" / "last.ckpt", last, step_at_cut
    )
    assert resumed["rm/val/pair_acc"] == ref["rm/val/pair_acc"]


def test_ddp_sim_trains_the_decoder_in_two_processes(tmp_path, triplets_game24):
    # No validation split: every trainer.validate() call would spawn two more processes (the
    # validation path under DDP is the MiniLM test's).
    over = [*STAGE, "train.data.val_fraction=0"]
    run_stage(
        train,
        "train",
        [f"input_dir={triplets_game24}", *over, "trainer=ddp_sim", "trainer.max_steps=1"],
        tmp_path,
    )
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 1
    t = _triplets(triplets_game24, 1)[0]
    scores = RewardScorer.from_checkpoint(tmp_path).score([t.intent], [t.positive])
    assert len(scores) == 1 and scores[0] == scores[0]  # a number, not NaN


class _FsdpLike(torch.nn.Module):
    """What FSDP puts around each decoder layer: the layer under ``_fsdp_wrapped_module``, and a
    state-dict hook that leaves that name out of the keys (as FSDP's full state dict does)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self._fsdp_wrapped_module = inner
        self._register_state_dict_hook(_FsdpLike._strip)

    def forward(self, *args, **kwargs):
        return self._fsdp_wrapped_module(*args, **kwargs)

    @staticmethod
    def _strip(module, state, prefix, local_metadata) -> None:
        inner = prefix + "_fsdp_wrapped_module."
        for key in [k for k in state if k.startswith(inner)]:
            state[prefix + key[len(inner) :]] = state.pop(key)


def test_an_fsdp_wrapped_model_keeps_its_adapters_in_the_checkpoint(fixed_batch):
    """trainer=fsdp: parameter names carry ``_fsdp_wrapped_module.``, state-dict keys do not;
    the LoRA checkpoint must still hold every adapter, not just the head."""
    import copy

    model = copy.deepcopy(fixed_batch["module"].model)
    expected = set(model.trainable_state_dict())
    layers = model.backbone.base_model.model.layers
    for i, layer in enumerate(layers):
        layers[i] = _FsdpLike(layer)
    assert any("_fsdp_wrapped_module" in n for n, _ in model.named_parameters())
    kept = set(model.trainable_state_dict())
    assert kept == expected and len(kept) > 2  # adapters + head.weight + head.bias


def _train_cli(run_dir, triplets_dir, *over: str) -> None:
    """``arm-exp train`` as a process: Lightning's launcher starts the second rank by running
    the same command again, as it does in a SLURM job."""
    cmd = [sys.executable, "-m", "arm_exp.cli", "train", f"input_dir={triplets_dir}",
           f"paths.root_dir={ROOT}", f"hydra.run.dir={run_dir}", *over]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=run_dir.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


# trainer=fsdp on 2 CPU processes with a GPU's dtypes: bf16 base weights beside float32 LoRA
# adapters and head (ARMAP's rank-64 LoRA at rank 8 here, to keep the checkpoints small).
FSDP = [
    *STAGE,
    "reward_model.dtype=bfloat16",
    "train.data.val_fraction=0",
    "trainer=fsdp_sim",
]


def test_fsdp_sim_trains_bf16_lora_in_two_processes(tmp_path, triplets_game24, fixed_batch):
    """Every FSDP unit holds one dtype (a decoder layer's bf16 weights, each fp32 adapter and
    the head apart: wrapping the layers alone fails with "Must flatten tensors with uniform
    dtype"), gradients are clipped by FSDP itself, and the full checkpoint keeps every
    adapter and the head, trained."""
    run_dir = tmp_path / "fsdp"
    _train_cli(run_dir, triplets_game24, *FSDP, "trainer.max_epochs=2")
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 2
    state = last["state_dict"]
    expected = {f"model.{k}" for k in fixed_batch["module"].model.trainable_state_dict()}
    assert set(state) == expected and len(expected) > 2  # adapters + head.weight + head.bias
    assert any(state[k].abs().max() > 0 for k in state if "lora_B" in k)  # zero-initialised
    t = _triplets(triplets_game24, 1)[0]
    scores = RewardScorer.from_checkpoint(run_dir).score([t.intent], [t.positive])
    assert len(scores) == 1 and scores[0] == scores[0]  # a number, not NaN


@pytest.mark.slow
def test_an_fsdp_sim_run_resumes_like_an_uninterrupted_one(tmp_path, triplets_game24):
    """A 2-epoch FSDP run cut after its first epoch (its last.ckpt, the optimizer's sharded
    state gathered into it) and resumed ends with the uninterrupted run's weights."""
    over = [*FSDP, "trainer.max_epochs=2"]
    ref, cut, resumed = tmp_path / "ref", tmp_path / "cut", tmp_path / "resumed"
    _train_cli(ref, triplets_game24, *over)
    _train_cli(cut, triplets_game24, *FSDP, "trainer.max_epochs=1")
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copy(cut / "checkpoints" / "last.ckpt", resumed / "checkpoints" / "last.ckpt")
    _train_cli(resumed, triplets_game24, *over)
    assert_resumed_like_uninterrupted(
        ref / "checkpoints" / "last.ckpt", resumed / "checkpoints" / "last.ckpt", 1
    )
