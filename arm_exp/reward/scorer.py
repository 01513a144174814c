"""Reward-model inference for planners, notebooks and outside tools.

``RewardScorer.from_checkpoint(path).score(intents, trajectories) -> list[float]``

``path`` is an ``arm-exp train`` checkpoint (or its run dir) or a Hugging Face
sequence-classification folder with one logit (``arm-exp export``'s, or one trained elsewhere:
:class:`~arm_exp.reward.hf.HFRewardModel`).

- one renderer (stored in the checkpoint) turns each pair into model input, as in training;
- an LRU cache keyed by a hash of the rendered text: Best-of-N duplicates and MCTS re-visits are
  never scored twice (``rm_cache_hits`` counts them);
- misses are sorted by length and scored in batches (little padding) under
  ``torch.inference_mode``, so 100 trajectories cost a few forward passes, not 100;
- the scorer is shared by every task ``plan`` runs at once: the cache is guarded by a lock and
  forward passes run outside it, one at a time. With ``merge_calls`` the misses of concurrent
  calls share forward passes: they go to one :class:`~arm_exp.serving.MicroBatcher` worker,
  which batches whatever queued while it was busy. Off by default: a score then depends in its
  last bits on how many rows its batch had (float32 kernels change with the batch's shape),
  so episodes would no longer be byte-identical across ``plan.concurrency``; on CPU the merged
  batches also save little (see ``docs/benchmarks.md``).

Per task (inside a :func:`arm_exp.tally.scope`), ``rm_cache_hits`` counts the items that task
had already asked for (or asked for twice in one call): a count that does not depend on which
other tasks ran before or beside it. The scorer's own :meth:`counters` count every hit.

Checkpoints are read with ``torch.load(weights_only=True)``: no pickle of untrusted files.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from arm_exp.artifacts import CKPT_KEY
from arm_exp.devices import resolve_device
from arm_exp.errors import ArtifactError
from arm_exp.reward.hf import HFRewardModel, is_hf_folder
from arm_exp.reward.model import Calibration, RewardModel, RewardModelSpec
from arm_exp.reward.render import Renderer
from arm_exp.serving import MicroBatcher
from arm_exp.tally import charge, innermost
from arm_exp.types import Trajectory


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, a train run dir (its ``checkpoints/best.ckpt``), or a Hugging Face
    sequence-classification folder (``arm-exp export``'s, or any with one logit)."""
    p = Path(path)
    if is_hf_folder(p):
        return p
    if p.is_dir():
        for candidate in (p / "checkpoints" / "best.ckpt", p / "best.ckpt"):
            if candidate.exists():
                return candidate
        raise ArtifactError(
            f"rm_ckpt={path}: a directory with neither checkpoints/best.ckpt nor config.json "
            "(a Hugging Face model folder)"
        )
    if not p.exists():
        raise ArtifactError(f"rm_ckpt={path}: no such file (pass the .ckpt of `arm-exp train`)")
    return p


def load_checkpoint(
    path: str | Path, device: str = "cpu", dtype: str | None = None
) -> tuple[RewardModel, dict[str, Any]]:
    """The reward model of an ``arm-exp train`` checkpoint (LoRA adapters not merged yet) and
    its ``arm_exp`` entry (spec, renderer, calibration, lineage). ``dtype`` overrides the
    spec's (the export builds float32 whatever the model trained in)."""
    ckpt_path = resolve_checkpoint(path)
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ArtifactError(
            f"{ckpt_path}: not a readable checkpoint ({type(e).__name__}: {e})"
        ) from None
    meta = ckpt.get(CKPT_KEY) if isinstance(ckpt, dict) else None
    if not meta:
        raise ArtifactError(
            f"{ckpt_path}: not an arm-exp reward-model checkpoint (no '{CKPT_KEY}' entry)"
        )
    spec = RewardModelSpec(**{**meta["spec"], **({"dtype": dtype} if dtype else {})})
    model = spec.build(resolve_device(device, "scorer.device"))
    state = {k[len("model.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise ArtifactError(
            f"{ckpt_path}: weights do not fit backbone {spec.backbone or spec.package} ({e})"
        ) from None
    # A LoRA checkpoint holds only the adapters and the head: the base weights come from the
    # backbone, but every trained weight must be there.
    trained = model.trainable_names() if spec.lora else set(missing)
    lost = [k for k in missing if k in trained]
    if unexpected or lost:
        raise ArtifactError(
            f"{ckpt_path}: weights do not fit backbone {spec.backbone or spec.package}: "
            f"{len(lost)} missing, {len(unexpected)} unexpected keys"
        )
    return model, meta


class RewardScorer:
    """Batched, cached scoring of (intent, trajectory) pairs with a trained reward model.

    Args:
        batch_size: items per forward pass, at most.
        max_batch_tokens: padded tokens per forward pass, at most (None: no bound); what the
            activations' memory grows with (a batch of 4096-token trajectories holds 16x the
            tokens of 256-token ones). An item longer than it goes alone.
        cache_size: scores kept (least recently used evicted).
        merge_calls: score the misses of concurrent calls in shared forward passes (see the
            module docstring for what it costs in reproducibility).
        merge_wait_s: with ``merge_calls``, how long the batching worker waits for more calls
            before a forward pass (0: it takes what queued while it was busy, so a lone caller
            never waits).
    """

    def __init__(
        self,
        model: RewardModel | HFRewardModel,
        renderer: Renderer,
        calibration: Calibration | None = None,
        batch_size: int = 32,
        cache_size: int = 100_000,
        device: str = "cpu",
        merge_calls: bool = False,
        merge_wait_s: float = 0.0,
        max_batch_tokens: int | None = None,
    ) -> None:
        if max_batch_tokens is not None and max_batch_tokens < 1:
            raise ValueError(f"scorer.max_batch_tokens={max_batch_tokens}: must be >= 1 or null")
        device = resolve_device(device, "scorer.device")
        self.model = model.to(device).eval()
        self.renderer = renderer
        self.calibration = calibration or Calibration()
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.cache_size = cache_size
        self.device = device
        self.merge_calls = merge_calls
        self.merge_wait_s = merge_wait_s
        # What the checkpoint says made it (``from_checkpoint``; see RewardModule's ``lineage``).
        self.lineage: dict[str, Any] = {}
        self._forward_lock = threading.Lock()
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        self._batcher: MicroBatcher | None = None
        self._counters = {
            "rm_calls": 0,
            "rm_items": 0,
            "rm_cache_hits": 0,
            "rm_forward_items": 0,
            "rm_batches": 0,
            "rm_time_s": 0.0,
        }

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str = "cpu",
        batch_size: int = 32,
        cache_size: int = 100_000,
        merge_calls: bool = False,
        merge_wait_s: float = 0.0,
        max_batch_tokens: int | None = None,
    ) -> RewardScorer:
        model: RewardModel | HFRewardModel
        meta: dict[str, Any]
        if is_hf_folder(path):
            folder_model = HFRewardModel(path, device)
            model, meta = folder_model, folder_model.meta
        else:
            model, meta = load_checkpoint(path, device)
            model.prepare_inference()  # LoRA merged (float32) or in the base dtype (bf16)
        scorer = cls(
            model,
            Renderer(**meta["renderer"]),
            Calibration(**meta.get("calibration", {})),
            batch_size=batch_size,
            cache_size=cache_size,
            device=device,
            merge_calls=merge_calls,
            merge_wait_s=merge_wait_s,
            max_batch_tokens=max_batch_tokens,
        )
        scorer.lineage = dict(meta.get("lineage") or {})
        return scorer

    def key(self, head: str, tail: str) -> bytes:
        return hashlib.blake2b(f"{head}\x00{tail}".encode(), digest_size=16).digest()

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        """One reward per (intent, trajectory); higher means more likely to accomplish it."""
        if len(intents) != len(trajectories):
            raise ValueError(
                f"score(): {len(intents)} intents for {len(trajectories)} trajectories"
            )
        started = time.perf_counter()
        rendered = [self.renderer.render(i, t) for i, t in zip(intents, trajectories, strict=True)]
        keys = [self.key(h, t) for h, t in rendered]
        out: list[float | None] = [None] * len(keys)
        todo: dict[bytes, tuple[str, str]] = {}
        with self._lock:
            self._counters["rm_calls"] += 1
            self._counters["rm_items"] += len(keys)
            for i, k in enumerate(keys):
                if k in self._cache:
                    self._cache.move_to_end(k)
                    out[i] = self._cache[k]
                    self._counters["rm_cache_hits"] += 1
                elif k in todo:
                    self._counters["rm_cache_hits"] += 1  # a duplicate within this call
                else:
                    todo[k] = rendered[i]
        if todo:
            values = self._score_misses(list(todo.values()))
            computed = dict(zip(todo, values, strict=True))
            with self._lock:
                for k, s in computed.items():
                    # Another caller may have scored the same item meanwhile: keep one value.
                    s = self._cache.setdefault(k, s)
                    computed[k] = s
                    if len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
            for i, k in enumerate(keys):
                if out[i] is None:
                    out[i] = computed[k]
        with self._lock:
            self._counters["rm_time_s"] += time.perf_counter() - started
        self._charge(keys)
        return [float(x) for x in out]  # type: ignore[arg-type]

    def _score_misses(self, pairs: list[tuple[str, str]]) -> list[float]:
        """Rewards of the rendered pairs not in the cache: this call's own forward passes, one
        call at a time, or with ``merge_calls`` passes shared with concurrent calls."""
        if self.merge_calls:
            return self._merger().submit(pairs)
        with self._forward_lock:
            return self._forward(pairs)

    def _charge(self, keys: list[bytes]) -> None:
        """Charge the calling task: its calls, items and the items it had already asked for."""
        tally = innermost()
        if tally is None:
            return
        seen = tally.memo(id(self))
        repeats = 0
        for k in keys:
            repeats += k in seen
            seen.add(k)
        charge(rm_calls=1, rm_items=len(keys), rm_cache_hits=repeats)

    def _merger(self) -> MicroBatcher:
        with self._lock:
            if self._batcher is None:
                self._batcher = MicroBatcher(
                    self._forward_calls, max_batch=256, max_wait_s=self.merge_wait_s
                )
            return self._batcher

    def _forward_calls(self, calls: list[list[tuple[str, str]]]) -> list[list[float]]:
        """The batching worker: every queued call's pairs in shared forward passes."""
        flat = [pair for call in calls for pair in call]
        scores = self._forward(flat)
        out, start = [], 0
        for call in calls:
            out.append(scores[start : start + len(call)])
            start += len(call)
        return out

    def _forward(self, pairs: list[tuple[str, str]]) -> list[float]:
        ids = self.model.encode(pairs)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        result = [0.0] * len(ids)
        batches = 0
        with torch.inference_mode():
            for idx in self.batches([len(ids[i]) for i in order], order):
                batch = self.model.collate([ids[i] for i in idx])
                rewards = self.model(**{k: v.to(self.device) for k, v in batch.items()})
                for i, r in zip(idx, rewards.float().cpu().tolist(), strict=True):
                    result[i] = r
                batches += 1
        with self._lock:
            self._counters["rm_batches"] += batches
            self._counters["rm_forward_items"] += len(ids)
        return result

    def batches(self, lengths: Sequence[int], order: Sequence[int]) -> list[list[int]]:
        """``order`` (items sorted by their ``lengths``, ascending) cut into forward passes of at
        most ``batch_size`` items and ``max_batch_tokens`` padded tokens (items x the longest)."""
        out: list[list[int]] = []
        current: list[int] = []
        for length, i in zip(lengths, order, strict=True):
            over = (
                self.max_batch_tokens is not None
                and (len(current) + 1) * length > self.max_batch_tokens
            )
            if current and (len(current) == self.batch_size or over):
                out.append(current)
                current = []
            current.append(i)
        if current:
            out.append(current)
        return out

    def score_one_at_a_time(
        self, intents: Sequence[str], trajectories: Sequence[Trajectory]
    ) -> list[float]:
        """The reference implementation's way (batch 1, no cache): for comparisons only."""
        out = []
        with torch.inference_mode():
            for i, t in zip(intents, trajectories, strict=True):
                ids = self.model.encode([self.renderer.render(i, t)])
                batch = self.model.collate(ids)
                reward = self.model(**{k: v.to(self.device) for k, v in batch.items()})
                out.append(float(reward.float().item()))
        return out

    def threshold(self, quantile: float, of: str = "negative") -> float:
        return self.calibration.threshold(quantile, of)

    def unit(self, scores: Sequence[float]) -> list[float]:
        """Scores mapped into [0, 1] through the checkpoint's validation scores (their smoothed
        empirical CDF, :meth:`~arm_exp.reward.model.Calibration.unit`)."""
        return self.calibration.unit(scores)

    def counters(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counters)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        """Stop the batching worker (a later call starts a new one)."""
        with self._lock:
            batcher, self._batcher = self._batcher, None
        if batcher is not None:
            batcher.close()

    def info(self) -> dict[str, Any]:
        return {
            "spec": self.model.spec.config(),
            "renderer": self.renderer.config(),
            "lineage": self.lineage,
        }
