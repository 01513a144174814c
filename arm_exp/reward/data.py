"""The training data: ``triplets.jsonl`` -> tokenized preference examples in length-grouped batches
(and, for a process reward model, ``values.jsonl`` -> prefixes with their values:
:class:`ValueDataModule`).

- Triplets sharing (intent, positive) form a *group*; a group's negatives are split into
  examples of at most ``negatives_per_example`` negatives (1 for pairwise losses, k for listwise).
- The validation split is carved by whole groups with ``seed``, so the same positive never sits
  on both sides.
- ``train_fraction`` keeps a seeded subset of the training groups (the data-amount ablation).
- Inputs are rendered by the shared :class:`~arm_exp.reward.render.Renderer` and truncated by the
  model, keeping the end of long trajectories; nothing asserts on length.
- Batches group similar lengths (less padding) and are shuffled per epoch from ``seed`` and the
  epoch number, so a resumed run sees the same order. Under DDP each rank takes every
  ``world_size``-th batch.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from arm_exp.artifacts import JsonlError, iter_jsonl
from arm_exp.reward.render import Renderer
from arm_exp.types import Triplet, ValueLabel

# Which records a file holds, told by the keys only one kind has: a stage given the other kind
# says so in one line instead of failing on a missing field.
_KIND_KEYS = {"triplets": ("positive", "negative"), "values": ("prefix", "value")}
_MAKES = {
    "triplets": "synthesis=rule|llm, trained with a preference loss (loss=bradley_terry, ...)",
    "values": "synthesis=mc_values, trained with a pointwise loss (loss=prm_bce|prm_mse)",
}


def wrong_kind(path: str | Path, lineno: int, obj: Any, expected: str) -> JsonlError | None:
    """The error for a record of the other kind than ``expected`` (``triplets`` | ``values``),
    or None."""
    for kind, keys in _KIND_KEYS.items():
        if kind != expected and isinstance(obj, dict) and all(k in obj for k in keys):
            return JsonlError(
                f"{path}:{lineno}: holds {kind} ({_MAKES[kind]}), but this run learns from "
                f"{expected} ({_MAKES[expected]})"
            )
    return None


@dataclass
class Example:
    """One positive and its negatives, as token ids."""

    pos: list[int]
    negs: list[list[int]]

    def __len__(self) -> int:
        return max(len(self.pos), *(len(n) for n in self.negs))


def load_triplets(
    path: str | Path, *, skip_bad: bool = False, stats: dict[str, int] | None = None
) -> list[Triplet]:
    """Read ``triplets.jsonl``; a malformed line is an error naming file and line (or skipped)."""
    out = []
    for lineno, obj in iter_jsonl(path, skip_bad=skip_bad, stats=stats):
        if (other := wrong_kind(path, lineno, obj, "triplets")) is not None:
            raise other
        try:
            t = Triplet.from_dict(obj)
            if not isinstance(t.intent, str) or not t.intent.strip():
                raise ValueError("empty intent")
        except (TypeError, KeyError, ValueError) as e:
            if skip_bad:
                if stats is not None:
                    stats["skipped_records"] = stats.get("skipped_records", 0) + 1
                continue
            raise JsonlError(
                f"{path}:{lineno}: not a valid triplet ({type(e).__name__}: {e})"
            ) from None
        out.append(t)
    if not out:
        raise JsonlError(
            f"{path}: no triplets (run `arm-exp synthesize` first, or check its filters)"
        )
    return out


def group_triplets(
    triplets: Sequence[Triplet], renderer: Renderer
) -> dict[tuple[str, str], list[Triplet]]:
    groups: dict[tuple[str, str], list[Triplet]] = {}
    for t in triplets:
        key = (t.intent, "\n".join(renderer.render(t.intent, t.positive)))
        groups.setdefault(key, []).append(t)
    return groups


def split_groups(keys: list, val_fraction: float, seed: int) -> tuple[list, list]:
    """Seeded split of group keys into (train, val); val gets at least one group when possible."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction}: must be in [0, 1)")
    order = sorted(keys)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    if val_fraction > 0 and len(order) >= 2:
        n_val = max(n_val, 1)
    return order[n_val:], order[:n_val]


class LengthGroupedBatches(Sampler[list[int]]):
    """Batches of similar length, shuffled per epoch; sharded across DDP ranks."""

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int,
        shuffle: bool,
        rank: int = 0,
        world_size: int = 1,
        window: int = 50,
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.window = window
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        idx = list(range(len(self.lengths)))
        if not self.shuffle:
            idx.sort(key=lambda i: self.lengths[i])
            return [idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        rng = random.Random(self.seed * 100003 + self.epoch)
        rng.shuffle(idx)
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(idx), span):
            chunk = sorted(idx[start : start + span], key=lambda i: self.lengths[i])
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        if self.world_size > 1:
            # Equal counts per rank (DDP would hang otherwise): wrap around to fill the last round.
            per_rank = -(-len(batches) // self.world_size)
            batches = (batches * 2)[: per_rank * self.world_size]
            batches = batches[self.rank :: self.world_size]
        return iter(batches)

    def __len__(self) -> int:
        n = -(-len(self.lengths) // self.batch_size)
        return -(-n // self.world_size) if self.world_size > 1 else n


def collate_examples(
    examples: Sequence[Example], pad: Callable[[Sequence[Sequence[int]]], dict[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """All sequences of a batch in one padded tensor, with the indices of positives/negatives."""
    seqs: list[list[int]] = [e.pos for e in examples]
    k = max(len(e.negs) for e in examples)
    neg_index = torch.zeros((len(examples), k), dtype=torch.long)
    neg_mask = torch.zeros((len(examples), k), dtype=torch.bool)
    for i, e in enumerate(examples):
        for j, n in enumerate(e.negs):
            neg_index[i, j] = len(seqs)
            neg_mask[i, j] = True
            seqs.append(n)
    batch = pad(seqs)
    batch["pos_index"] = torch.arange(len(examples))
    batch["neg_index"] = neg_index
    batch["neg_mask"] = neg_mask
    return batch


class TripletDataModule(L.LightningDataModule):
    """Lightning data module over ``triplets.jsonl`` (see the module docstring).

    ``encode`` and ``pad`` come from the reward model (its tokenizer and truncation rule).
    """

    def __init__(
        self,
        triplets_path: str,
        renderer: Renderer,
        encode: Callable[[Sequence[tuple[str, str]]], list[list[int]]],
        pad: Callable[[Sequence[Sequence[int]]], dict[str, torch.Tensor]],
        batch_size: int = 16,
        val_fraction: float = 0.1,
        seed: int = 0,
        negatives_per_example: int = 1,
        train_fraction: float = 1.0,
        skip_bad: bool = False,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size}: must be >= 1")
        if not 0 < train_fraction <= 1:
            raise ValueError(f"data.train_fraction={train_fraction}: must be in (0, 1]")
        if negatives_per_example < 1:
            raise ValueError(f"data.negatives_per_example={negatives_per_example}: must be >= 1")
        self.triplets_path = triplets_path
        self.renderer = renderer
        self.encode = encode
        self.pad = pad
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.seed = seed
        self.negatives_per_example = negatives_per_example
        self.train_fraction = train_fraction
        self.skip_bad = skip_bad
        self.num_workers = num_workers
        self.stats: dict[str, int] = {}
        # Example (triplets) or PointExample (values: ValueDataModule)
        self.train: list[Any] = []
        self.val: list[Any] = []

    def setup(self, stage: str | None = None) -> None:
        if self.train or self.val:
            return
        triplets = load_triplets(self.triplets_path, skip_bad=self.skip_bad, stats=self.stats)
        groups = group_triplets(triplets, self.renderer)
        train_keys, val_keys = split_groups(list(groups), self.val_fraction, self.seed)
        if self.train_fraction < 1:
            rng = random.Random(self.seed + 1)
            n = max(1, round(len(train_keys) * self.train_fraction))
            train_keys = sorted(rng.sample(train_keys, n))
        self.train = self._examples([groups[k] for k in train_keys])
        self.val = self._examples([groups[k] for k in val_keys])
        self.stats.update(
            triplets=len(triplets),
            groups=len(groups),
            train_groups=len(train_keys),
            val_groups=len(val_keys),
            train_pairs=sum(len(e.negs) for e in self.train),
            val_pairs=sum(len(e.negs) for e in self.val),
        )

    def _examples(self, groups: list[list[Triplet]]) -> list[Example]:
        pairs: list[tuple[str, str]] = []
        layout: list[tuple[int, list[int]]] = []
        for group in groups:
            pos_at = len(pairs)
            pairs.append(self.renderer.render(group[0].intent, group[0].positive))
            neg_at = []
            for t in group:
                neg_at.append(len(pairs))
                pairs.append(self.renderer.render(t.intent, t.negative))
            layout.append((pos_at, neg_at))
        ids = self.encode(pairs) if pairs else []
        k = self.negatives_per_example
        out = []
        for pos_at, neg_at in layout:
            for start in range(0, len(neg_at), k):
                out.append(Example(ids[pos_at], [ids[j] for j in neg_at[start : start + k]]))
        return out

    def _loader(self, examples: list[Example], shuffle: bool) -> DataLoader:
        rank, world = 0, 1
        if shuffle and self.trainer is not None:
            rank, world = self.trainer.global_rank, self.trainer.world_size
        sampler = LengthGroupedBatches(
            [len(e) for e in examples], self.batch_size, self.seed, shuffle, rank, world
        )
        return DataLoader(
            examples,  # type: ignore[arg-type]
            batch_sampler=sampler,
            collate_fn=self._collate,
            num_workers=self.num_workers,
        )

    def _collate(self, batch: Sequence[Any]) -> dict[str, torch.Tensor]:
        return collate_examples(batch, self.pad)

    def train_dataloader(self) -> DataLoader:
        if not self.train:
            raise JsonlError(
                f"{self.triplets_path}: no training examples after the validation split"
            )
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}


def load_values(
    path: str | Path, *, skip_bad: bool = False, stats: dict[str, int] | None = None
) -> list[ValueLabel]:
    """Read ``values.jsonl`` (``synthesis=mc_values``); a malformed line, a value outside
    [0, 1] or a triplet is an error naming the file and line (malformed ones may be skipped)."""
    out = []
    for lineno, obj in iter_jsonl(path, skip_bad=skip_bad, stats=stats):
        if (other := wrong_kind(path, lineno, obj, "values")) is not None:
            raise other
        try:
            v = ValueLabel.from_dict(obj)
            if not 0.0 <= float(v.value) <= 1.0:
                raise ValueError(f"value {v.value} outside [0, 1]")
        except (TypeError, KeyError, ValueError) as e:
            if skip_bad:
                if stats is not None:
                    stats["skipped_records"] = stats.get("skipped_records", 0) + 1
                continue
            raise JsonlError(
                f"{path}:{lineno}: not a valid value label ({type(e).__name__}: {e})"
            ) from None
        out.append(v)
    if not out:
        raise JsonlError(f"{path}: no value labels (run `arm-exp synthesize synthesis=mc_values`)")
    return out


@dataclass
class PointExample:
    """One rendered prefix as token ids and its value."""

    ids: list[int]
    value: float

    def __len__(self) -> int:
        return len(self.ids)


def collate_points(
    examples: Sequence[PointExample],
    pad: Callable[[Sequence[Sequence[int]]], dict[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """A batch of prefixes in one padded tensor, with their values as ``labels``."""
    batch = pad([e.ids for e in examples])
    batch["labels"] = torch.tensor([e.value for e in examples], dtype=torch.float32)
    return batch


class ValueDataModule(TripletDataModule):
    """Lightning data module over ``values.jsonl`` for a process reward model: each prefix,
    rendered by the shared renderer, with its Monte Carlo value. The validation split is carved
    by whole tasks (every prefix of every run of a puzzle on one side), the rest as for
    triplets (``train_fraction``, length-grouped batches). ``negatives_per_example`` is unused
    (a pointwise loss has no negatives)."""

    def setup(self, stage: str | None = None) -> None:
        if self.train or self.val:
            return
        labels = load_values(self.triplets_path, skip_bad=self.skip_bad, stats=self.stats)
        groups: dict[str, list[ValueLabel]] = {}
        for v in labels:
            groups.setdefault(v.prefix.task_id, []).append(v)
        train_keys, val_keys = split_groups(list(groups), self.val_fraction, self.seed)
        if self.train_fraction < 1:
            rng = random.Random(self.seed + 1)
            n = max(1, round(len(train_keys) * self.train_fraction))
            train_keys = sorted(rng.sample(train_keys, n))
        self.train = self._points([v for k in train_keys for v in groups[k]])
        self.val = self._points([v for k in val_keys for v in groups[k]])
        self.stats.update(
            values=len(labels),
            groups=len(groups),
            train_groups=len(train_keys),
            val_groups=len(val_keys),
            train_examples=len(self.train),
            val_examples=len(self.val),
            nonzero_values=sum(v.value > 0 for v in labels),
        )

    def _points(self, labels: list[ValueLabel]) -> list[PointExample]:
        pairs = [self.renderer.render(v.intent, v.prefix) for v in labels]
        ids = self.encode(pairs) if pairs else []
        return [PointExample(i, float(v.value)) for i, v in zip(ids, labels, strict=True)]

    def _collate(self, batch: Sequence[Any]) -> dict[str, torch.Tensor]:
        return collate_points(batch, self.pad)
