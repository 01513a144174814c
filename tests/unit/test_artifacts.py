import json

import pytest

from arm_exp.artifacts import (
    ArtifactError,
    JsonlError,
    Manifest,
    ResumableJsonl,
    atomic_write_json,
    content_key,
    is_complete,
    read_records,
    redact,
)


def _store(path):
    return ResumableJsonl(path, dict, json.dumps, key=lambda r: r["id"])


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    atomic_write_json(tmp_path / "m.json", {"a": 2})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_resumable_jsonl_drops_torn_line_and_resumes(tmp_path):
    path = tmp_path / "x.jsonl"
    s = _store(path)
    for i in range(3):
        s.append({"id": str(i), "v": i})
    s.close()
    with path.open("a") as f:
        f.write('{"id": "3", "v"')  # killed in the middle of a write
    s = _store(path)
    assert s.done_ids == {"0", "1", "2"} and s.stats["torn_lines"] == 1
    s.append({"id": "3", "v": 3})
    s.close()
    lines = path.read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["0", "1", "2", "3"]


def test_resumable_keeps_complete_last_line_without_newline(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "0"}\n{"id": "1"}')
    s = _store(path)
    assert s.done_ids == {"0", "1"}
    s.append({"id": "2"})
    s.close()
    assert len(path.read_text().splitlines()) == 3


def test_duplicate_append_is_an_error(tmp_path):
    s = _store(tmp_path / "x.jsonl")
    s.append({"id": "a"})
    with pytest.raises(JsonlError, match="written twice"):
        s.append({"id": "a"})


def test_finalize_orders_records(tmp_path):
    s = _store(tmp_path / "x.jsonl")
    for i in ["b", "c", "a"]:
        s.append({"id": i})
    s.finalize(["a", "b", "c"])
    assert [json.loads(x)["id"] for x in (tmp_path / "x.jsonl").read_text().splitlines()] == [
        "a",
        "b",
        "c",
    ]


def test_bad_line_in_middle_names_file_and_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "0"}\nnot json\n{"id": "2"}\n')
    with pytest.raises(JsonlError, match=r"x\.jsonl:2"):
        read_records(path, dict)
    stats: dict = {}
    assert len(read_records(path, dict, skip_bad=True, stats=stats)) == 2
    assert stats["skipped_lines"] == 1


def test_content_key_is_stable_and_sensitive():
    a = content_key({"x": 1, "y": [1, 2]}, ["in:abc"])
    assert a == content_key({"y": [1, 2], "x": 1}, ["in:abc"])
    assert a != content_key({"x": 2, "y": [1, 2]}, ["in:abc"])
    assert a != content_key({"x": 1, "y": [1, 2]}, ["in:abd"])


def test_redact_hides_secrets_but_not_env_var_names():
    cfg = {
        "llm": {"api_key": "sk-123", "api_key_env": "OPENAI_API_KEY", "max_tokens": 5},
        "password": "p",
    }
    out = redact(cfg)
    assert out["llm"]["api_key"] != "sk-123" and out["password"] != "p"
    assert out["llm"]["api_key_env"] == "OPENAI_API_KEY" and out["llm"]["max_tokens"] == 5


def test_manifest_complete_flag(tmp_path):
    m = Manifest(tmp_path, "explore", "k1", {"a": 1})
    m.save()
    assert not is_complete(tmp_path)
    m.finish({"m": 1.0})
    assert is_complete(tmp_path, "k1") and not is_complete(tmp_path, "k2")
    assert json.loads((tmp_path / "manifest.json").read_text())["metrics"] == {"m": 1.0}


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        read_records(tmp_path / "nope.jsonl", dict)
