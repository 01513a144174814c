"""A process reward model's data: values.jsonl read back (and told apart from triplets), split by
task, batched with labels; the concordance its checkpoints are chosen by."""

from __future__ import annotations

import json

import pytest
import torch

from arm_exp.artifacts import JsonlError
from arm_exp.reward.data import ValueDataModule, collate_points, load_values, wrong_kind
from arm_exp.reward.module import concordance
from arm_exp.reward.render import Renderer
from arm_exp.types import Step, Trajectory, ValueLabel, to_dict


def _label(task: str, t: int, value: float) -> ValueLabel:
    steps = [Step(f"a{i}", f"o{i}") for i in range(t)]
    prefix = Trajectory(f"{task}#0@{t}", "game24", task, f"intent {task}", "start", steps)
    return ValueLabel(prefix.id, "game24", prefix.intent, prefix, value, {"source": f"{task}#0"})


def _write(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_wrong_kind_names_both_kinds(tmp_path):
    value = to_dict(_label("1", 2, 0.5))
    triplet = {"id": "x", "positive": {}, "negative": {}}
    err = wrong_kind("f.jsonl", 3, value, "triplets")
    assert str(err) == (
        "f.jsonl:3: holds values (synthesis=mc_values, trained with a pointwise loss "
        "(loss=prm_bce|prm_mse)), but this run learns from triplets (synthesis=rule|llm, "
        "trained with a preference loss (loss=bradley_terry, ...))"
    )
    assert "holds triplets" in str(wrong_kind("f.jsonl", 1, triplet, "values"))
    assert wrong_kind("f.jsonl", 1, value, "values") is None
    assert wrong_kind("f.jsonl", 1, triplet, "triplets") is None
    assert wrong_kind("f.jsonl", 1, {"prefix": {}}, "triplets") is None  # needs both keys
    assert wrong_kind("f.jsonl", 1, ["prefix", "value"], "triplets") is None


def test_load_values_round_trip_and_refusals(tmp_path):
    labels = [_label("1", 1, 0.0), _label("1", 2, 1.0), _label("2", 1, 0.25)]
    path = tmp_path / "values.jsonl"
    _write(path, [to_dict(v) for v in labels])
    assert load_values(path) == labels
    _write(path, [{**to_dict(labels[0]), "value": -0.1}])
    with pytest.raises(JsonlError, match=r"values.jsonl:1: not a valid value label \(ValueError"):
        load_values(path)
    _write(path, [{**to_dict(labels[0]), "value": 1.0}])
    assert load_values(path)[0].value == 1.0  # the bounds are in
    _write(path, [{"id": "x", "prefix": {"id": 1}, "value": 0.5}])
    with pytest.raises(JsonlError, match="not a valid value label"):
        load_values(path)
    _write(path, [{"id": "x", "positive": {}, "negative": {}}])
    with pytest.raises(JsonlError, match="holds triplets"):
        load_values(path, skip_bad=True)  # the wrong kind is never skipped
    path.write_text("")
    with pytest.raises(JsonlError, match="no value labels"):
        load_values(path)
    stats: dict[str, int] = {}
    _write(path, [{**to_dict(labels[0]), "value": 2}, to_dict(labels[1])])
    assert load_values(path, skip_bad=True, stats=stats) == [labels[1]]
    assert stats["skipped_records"] == 1


def _pad(seqs):
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def _encode(pairs):
    return [[len(head), len(tail) + 1] * (1 + len(tail) // 8) for head, tail in pairs]


def test_collate_points():
    from arm_exp.reward.data import PointExample

    batch = collate_points([PointExample([1, 2, 3], 0.5), PointExample([4], 1.0)], _pad)
    assert batch["labels"].tolist() == [0.5, 1.0] and batch["labels"].dtype == torch.float32
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert len(PointExample([1, 2, 3], 0.0)) == 3


def test_value_data_module_splits_by_task_and_batches_labels(tmp_path):
    labels = [_label(str(task), t, (task + t) % 3 / 2) for task in range(10) for t in (1, 2, 3)]
    path = tmp_path / "values.jsonl"
    _write(path, [to_dict(v) for v in labels])
    data = ValueDataModule(str(path), Renderer(), _encode, _pad, batch_size=4, val_fraction=0.2)
    data.setup()
    assert data.stats == {
        "values": 30, "groups": 10, "train_groups": 8, "val_groups": 2,
        "train_examples": 24, "val_examples": 6,
        "nonzero_values": sum(v.value > 0 for v in labels),
    }  # fmt: skip
    data.setup()  # a second call keeps the split
    assert len(data.train) == 24
    batches = list(data.val_dataloader())
    assert sum(len(b["labels"]) for b in batches) == 6
    assert all(set(b) == {"input_ids", "attention_mask", "labels"} for b in batches)
    train_values = sorted(float(x) for b in data.train_dataloader() for x in b["labels"])
    val_values = sorted(float(x) for b in batches for x in b["labels"])
    assert sorted(train_values + val_values) == sorted(v.value for v in labels)
    half = ValueDataModule(str(path), Renderer(), _encode, _pad, val_fraction=0.2,
                           train_fraction=0.5)  # fmt: skip
    half.setup()
    assert half.stats["train_groups"] == 4 and len(half.train) == 12


def test_concordance():
    scores = torch.tensor([0.1, 0.5, 0.3, 0.9])
    labels = torch.tensor([0.0, 1.0, 0.5, 0.5])
    # pairs (higher label, lower): (1,0) (1,2) (1,3) (2,0) (3,0): right: 1>0, 1>2, 2>0, 3>0;
    # wrong: 0.5 < 0.9 for (1,3)
    acc, pairs = concordance(scores, labels)
    assert pairs.item() == 5 and acc.item() == pytest.approx(4 / 5)
    acc, pairs = concordance(scores, torch.zeros(4))
    assert pairs.item() == 0 and acc.item() == 0.5
    acc, _ = concordance(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0]))
    assert acc.item() == 0.0  # a tie orders nothing right


def test_load_values_counts_and_names_what_it_skips(tmp_path):
    good = to_dict(_label("1", 1, 0.5))
    path = tmp_path / "values.jsonl"
    path.write_text(
        "{not json\n" + json.dumps({**good, "value": 3}) + "\n" + json.dumps(good) + "\n"
    )
    stats = {"skipped_records": 2}
    assert len(load_values(path, skip_bad=True, stats=stats)) == 1
    assert stats["skipped_records"] == 3 and sum(stats.values()) >= 4  # + iter_jsonl's own
    with pytest.raises(JsonlError, match=r"values.jsonl:1: "):
        load_values(path)
    path.write_text(json.dumps({**good, "value": 3}) + "\n")
    with pytest.raises(JsonlError, match=r"value 3 outside \[0, 1\]"):
        load_values(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps({"positive": {}, "negative": {}}) + "\n")
    with pytest.raises(JsonlError, match=r"^.*values.jsonl:2: holds triplets"):
        load_values(path)


def test_value_data_module_split_and_fraction_follow_the_seed(tmp_path):
    import random

    from arm_exp.reward.data import split_groups

    labels = [_label(str(task), 1, task / 10) for task in range(10)]
    path = tmp_path / "values.jsonl"
    _write(path, [to_dict(v) for v in labels])
    data = ValueDataModule(str(path), Renderer(), _encode, _pad, val_fraction=0.2, seed=5,
                           train_fraction=0.3)  # fmt: skip
    data.setup()
    train, val = split_groups([str(t) for t in range(10)], 0.2, 5)
    want = sorted(random.Random(6).sample(train, 2))
    assert data.stats["val_groups"] == len(val) == 2 and data.stats["train_groups"] == 2
    assert sorted(e.value for e in data.train) == sorted(int(t) / 10 for t in want)
    one = ValueDataModule(str(path), Renderer(), _encode, _pad, val_fraction=0.2,
                          train_fraction=0.05)  # fmt: skip
    one.setup()
    assert one.stats["train_groups"] == 1
    skip = tmp_path / "skip.jsonl"
    skip.write_text("{bad\n" + path.read_text())
    data = ValueDataModule(str(skip), Renderer(), _encode, _pad, skip_bad=True)
    data.setup()
    assert data.stats["values"] == 10 and data.stats["skipped_lines"] == 1


def test_value_data_module_sets_up_once_and_keeps_the_split_order(tmp_path):
    from arm_exp.reward.data import split_groups

    labels = [_label(str(task), 1, task / 10) for task in range(10)]
    path = tmp_path / "values.jsonl"
    _write(path, [to_dict(v) for v in labels])
    calls = []

    def encode(pairs):
        calls.append(len(pairs))
        return _encode(pairs)

    data = ValueDataModule(str(path), Renderer(), encode, _pad, val_fraction=0.0, seed=3)
    data.setup()
    data.setup()
    assert calls == [10]  # no validation split, and the second call keeps the first's work
    train, _ = split_groups([str(t) for t in range(10)], 0.0, 3)
    assert [e.value for e in data.train] == [int(k) / 10 for k in train]  # all of it, in order
