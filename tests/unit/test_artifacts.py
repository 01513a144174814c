import json
import re
from pathlib import Path

import pytest

from arm_exp.artifacts import (
    PROJECT_ROOT,
    REDACTED,
    JsonlError,
    Manifest,
    ResumableJsonl,
    atomic_write_json,
    atomic_write_text,
    changed_sources,
    checkpoint_lineage,
    code_version,
    content_key,
    git_sha,
    input_code_version,
    input_file,
    input_key,
    is_complete,
    is_secret_key,
    iter_jsonl,
    load_manifest,
    read_json,
    read_records,
    redact,
    source_hashes,
)
from arm_exp.errors import ArtifactError
from tests.conftest import write_poisoned_checkpoint


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


# -- every branch of the artifact store, for `make mutants` ------------------------------------


def test_atomic_write_text_creates_parents_and_cleans_up_on_failure(tmp_path, monkeypatch):
    import os

    target = tmp_path / "a" / "b" / "x.txt"
    atomic_write_text(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "héllo\n"  # the old file, untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.txt"]  # no temp file left


def test_atomic_write_text_renames_a_hidden_temp_file_beside_the_target(tmp_path, monkeypatch):
    import os

    moves: list[tuple[str, str]] = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (moves.append((str(a), str(b))), real(a, b)))
    atomic_write_text(tmp_path / "x.txt", "1")
    ((src, dst),) = moves
    # same directory (so the rename is atomic, on one filesystem), a dotfile that globs like
    # "*.jsonl" never pick up, and a .tmp suffix
    assert dst == str(tmp_path / "x.txt") and os.path.dirname(src) == str(tmp_path)
    assert re.fullmatch(r"\.x\.txt\..+\.tmp", os.path.basename(src))


def test_artifacts_are_utf8_whatever_the_locale(tmp_path):
    """Files are written and read as UTF-8 even where the locale's encoding is ASCII."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import arm_exp

    code = (
        "import json, sys\n"
        "from arm_exp.artifacts import ResumableJsonl, atomic_write_json, read_json\n"
        "d = sys.argv[1]\n"
        "atomic_write_json(d + '/m.json', {'k': '\\u00e9'})\n"
        "assert read_json(d + '/m.json') == {'k': '\\u00e9'}\n"
        "s = ResumableJsonl(d + '/x.jsonl', dict, lambda r: json.dumps(r, ensure_ascii=False),\n"
        "                   key=lambda r: r['id'])\n"
        "s.append({'id': '\\u00e9'})\n"
        "s.close()\n"
        "assert '\\u00e9' in ResumableJsonl(d + '/x.jsonl', dict, json.dumps, key=lambda r: r['id'])\n"
    )
    # The same calls in this process first (mutmut maps a test to the code it runs in-process).
    atomic_write_json(tmp_path / "here.json", {"k": "\u00e9"})
    assert read_json(tmp_path / "here.json") == {"k": "\u00e9"}
    with ResumableJsonl(tmp_path / "here.jsonl", dict, json.dumps, key=lambda r: r["id"]) as s:
        s.append({"id": "\u00e9"})
    env = {
        **os.environ,
        "LC_ALL": "C",
        "LANG": "C",
        "PYTHONUTF8": "0",
        "PYTHONCOERCECLOCALE": "0",  # keep the ASCII locale (Python would coerce C to UTF-8)
        "PYTHONPATH": str(Path(arm_exp.__file__).resolve().parents[1]),  # this very package
    }
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "m.json").read_bytes() == b'{\n  "k": "\xc3\xa9"\n}\n'
    assert (tmp_path / "x.jsonl").read_bytes() == b'{"id": "\xc3\xa9"}\n'


def test_atomic_write_json_is_indented_unicode_and_ends_with_a_newline(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"b": "é", "a": [1]})
    text = (tmp_path / "m.json").read_text(encoding="utf-8")
    assert text == '{\n  "b": "é",\n  "a": [\n    1\n  ]\n}\n'  # key order kept, not escaped


def test_read_json_errors_name_file_and_line(tmp_path):
    with pytest.raises(ArtifactError, match=r"nope\.json: file not found"):
        read_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text('{\n"a": 1,\n}')
    with pytest.raises(ArtifactError, match=r"bad\.json:3: invalid JSON \("):
        read_json(tmp_path / "bad.json")
    (tmp_path / "ok.json").write_text('{"é": 1}', encoding="utf-8")
    assert read_json(str(tmp_path / "ok.json")) == {"é": 1}


def test_redact_recurses_into_lists_and_keeps_empty_secrets_and_non_string_keys():
    cfg = {
        "servers": [{"secret": "s", "port": 1}, {"api_key": ""}],
        "auth_token": "t",
        "ACCESS_TOKEN": "u",
        "my_password": "p",
        "passwd": "q",
        "apikey": "k",
        "keystone": "not a secret",
        "token_budget": 5,
        1: "int key",
    }
    out = redact(cfg)
    assert out["servers"] == [{"secret": REDACTED, "port": 1}, {"api_key": ""}]
    for k in ("auth_token", "ACCESS_TOKEN", "my_password", "passwd", "apikey"):
        assert out[k] == REDACTED, k
    assert out["keystone"] == "not a secret" and out["token_budget"] == 5 and out[1] == "int key"
    assert cfg["auth_token"] == "t"  # a copy
    assert redact(["x", {"password": "p"}]) == ["x", {"password": REDACTED}]
    assert redact("plain") == "plain"


def test_content_key_is_stable_across_releases():
    # Run dirs and the pipeline cache are found by these keys: a change of the hashing format
    # would silently orphan every cached run. The format, spelled out: the first 16 hex digits
    # of the SHA-256 of the canonical JSON (sorted keys) of {"config", "inputs" (sorted)}.
    import hashlib

    canonical = b'{"config": {"x": 1, "y": [1, 2]}, "inputs": ["in:abc"]}'
    want = hashlib.sha256(canonical).hexdigest()[:16]
    assert content_key({"y": [1, 2], "x": 1}, ["in:abc"]) == want == "c9e6be4b0913844f"


def test_content_key_is_16_hex_digits_and_input_order_free():
    a = content_key({"x": 1}, ["b:1", "a:2"])
    assert a == content_key({"x": 1}, ["a:2", "b:1"]) and len(a) == 16
    assert int(a, 16) >= 0 and a == a.lower()
    assert content_key({"x": 1}) == content_key({"x": 1}, [])
    assert content_key({"p": tmp_path_like()}) == content_key({"p": "/x/y"})  # default=str


def tmp_path_like():
    from pathlib import PurePosixPath

    return PurePosixPath("/x/y")


def test_git_sha_reads_head_and_marks_a_dirty_tree(tmp_path):
    import os
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    assert git_sha(repo) is None  # not a repository
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip

    def git(*args):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)

    git("init", "-q")
    (repo / "f.txt").write_text("1")
    git("add", "f.txt")
    git("commit", "-qm", "c")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    assert git_sha(repo) == head.stdout.strip() and len(head.stdout.strip()) == 40
    (repo / "untracked.txt").write_text("x")
    assert git_sha(str(repo)) == head.stdout.strip()  # untracked files do not count
    (repo / "f.txt").write_text("2")
    assert git_sha(repo) == head.stdout.strip() + "+dirty"
    assert git_sha() is not None  # the package's own checkout


def test_iter_jsonl_line_numbers_blank_lines_and_non_objects(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": 2}\n')
    assert list(iter_jsonl(path)) == [(1, {"a": 1}), (4, {"a": 2})]
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(JsonlError, match=r"x\.jsonl:2: not a JSON object \(a JSON line must be"):
        list(iter_jsonl(path))
    stats: dict = {}
    assert list(iter_jsonl(path, skip_bad=True, stats=stats)) == [(1, {"a": 1})]
    assert stats == {"skipped_lines": 1}
    path.write_text('{"a": 1}\n[1]\nnope\n{"a": 4}\n')
    assert [i for i, _ in iter_jsonl(path, skip_bad=True, stats=stats)] == [1, 4]
    assert stats == {"skipped_lines": 3}  # added to what was there
    path.write_text('{"a": 1}\n[1, 2]\n')
    assert len(list(iter_jsonl(path, skip_bad=True))) == 1  # no stats dict: fine too
    path.write_bytes(b'{"a": 1}\n\xff\xfe\n')
    with pytest.raises(JsonlError, match=r"x\.jsonl:2"):
        list(iter_jsonl(path))
    with pytest.raises(JsonlError, match="file not found"):
        list(iter_jsonl(tmp_path / "none.jsonl"))


def test_iter_jsonl_torn_last_line_is_skipped_and_counted_even_when_strict(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a"')
    stats: dict = {}
    assert [o for _, o in iter_jsonl(path, stats=stats)] == [{"a": 1}, {"a": 2}]
    assert stats == {"torn_lines": 1}
    assert len(list(iter_jsonl(path))) == 2  # without stats
    path.write_text('{"a": 1}\n{"a"\n{"a": 3}\n')  # a bad line in the middle is not "torn"
    with pytest.raises(JsonlError, match=r"x\.jsonl:2"):
        list(iter_jsonl(path))
    path.write_text('{"a": 1}\n\n{"a"')  # a blank line before the torn tail
    stats = {"torn_lines": 2}  # counts add up across files read with the same stats
    assert len(list(iter_jsonl(path, stats=stats))) == 1 and stats == {"torn_lines": 3}
    path.write_text('{"a": 1}\nbad\n{"a"')  # torn at the end, and a bad line before it
    with pytest.raises(JsonlError, match=r"x\.jsonl:2"):
        list(iter_jsonl(path))
    path.write_text('{"a": 1}\n[2]')  # a complete last line that is not an object: torn too
    stats = {}
    assert len(list(iter_jsonl(path, stats=stats))) == 1 and stats == {"torn_lines": 1}


def test_read_records_malformed_record_names_the_line_or_is_counted(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "a", "v": 1}\n{"id": "b"}\n{"id": "c", "v": 3}\n')

    def parse(d):
        return (d["id"], d["v"])

    with pytest.raises(JsonlError, match=r"x\.jsonl:2: malformed record \(KeyError: 'v'\)"):
        read_records(path, parse)
    stats: dict = {}
    assert read_records(path, parse, skip_bad=True, stats=stats) == [("a", 1), ("c", 3)]
    assert stats == {"skipped_records": 1}
    read_records(path, parse, skip_bad=True, stats=stats)
    assert stats == {"skipped_records": 2}  # added to what was there
    assert read_records(path, parse, skip_bad=True) == [("a", 1), ("c", 3)]
    for exc in (TypeError, ValueError):

        def bad(d, exc=exc):
            raise exc("no")

        with pytest.raises(JsonlError, match=rf"x\.jsonl:1: malformed record \({exc.__name__}"):
            read_records(path, bad)


def test_resumable_recovers_and_refuses_duplicates(tmp_path):
    path = tmp_path / "sub" / "dir" / "x.jsonl"
    s = _store(path)  # creates the parent dirs
    assert len(s) == 0 and s.done_ids == set() and s.stats == {}
    s.append({"id": "a"})
    s.append({"id": "b"})
    assert "a" in s and "z" not in s and len(s) == 2
    s.close()
    s.close()  # closing twice is fine
    s = _store(path)
    assert s.done_ids == {"a", "b"} and s.stats == {}
    assert s.records["b"] == {"id": "b"}
    s.close()
    path.write_text('{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(JsonlError, match=r"x\.jsonl: duplicate record id 'a'"):
        _store(path)


def test_resumable_keeps_a_complete_last_line_and_its_ids(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "0"}\n{"id": "1"}')
    s = _store(path)
    assert "torn_lines" not in s.stats
    s.close()
    assert path.read_text() == '{"id": "0"}\n{"id": "1"}\n'  # the newline was restored
    path.write_bytes(b'{"id": "0"}\n\xff')  # undecodable torn tail
    s = _store(path)
    assert s.stats["torn_lines"] == 1 and s.done_ids == {"0"}
    s.close()
    assert path.read_bytes() == b'{"id": "0"}\n'


def test_append_refuses_a_multiline_record_and_fsyncs_every_n(tmp_path, monkeypatch):
    import os

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    s = ResumableJsonl(tmp_path / "x.jsonl", dict, lambda r: json.dumps(r, indent=1),
                       key=lambda r: r["id"])  # fmt: skip
    with pytest.raises(ValueError, match="^a JSONL record must serialize to one line$"):
        s.append({"id": "a"})
    assert "a" not in s
    s.close()
    synced.clear()
    s = ResumableJsonl(tmp_path / "y.jsonl", dict, json.dumps, key=lambda r: r["id"], fsync_every=2)
    for i in range(5):
        s.append({"id": str(i)})
    assert len(synced) == 2  # after records 2 and 4
    s.close()
    assert len(synced) == 3  # and on close
    s = _store(tmp_path / "z.jsonl")
    for i in range(16):
        s.append({"id": str(i)})
    assert len(synced) == 4  # default: every 16 records
    s.close()


def test_finalize_orders_by_id_by_default_and_keeps_extras_sorted(tmp_path):
    s = _store(tmp_path / "x.jsonl")
    for i in ["c", "a", "b", "e", "d"]:
        s.append({"id": i})
    out = s.finalize()
    assert [r["id"] for r in out] == ["a", "b", "c", "d", "e"]
    s = _store(tmp_path / "y.jsonl")
    for i in ["c", "a", "b", "e", "d"]:
        s.append({"id": i})
    out = s.finalize(["b", "a"])
    assert [r["id"] for r in out] == ["b", "a", "c", "d", "e"]  # extras after, sorted
    ids = [json.loads(x)["id"] for x in (tmp_path / "y.jsonl").read_text().splitlines()]
    assert ids == ["b", "a", "c", "d", "e"]
    s = _store(tmp_path / "z.jsonl")
    s.append({"id": "a"})
    with pytest.raises(JsonlError, match=r"z\.jsonl: finalize with missing ids \['q', 'r'\]"):
        s.finalize(["a", "q", "r"])
    with pytest.raises(JsonlError, match=r"missing ids \['0', '1', '2', '3', '4'\]$"):
        s.finalize([str(i) for i in range(9)])  # the first five are enough to say what is wrong


def test_resumable_as_a_context_manager_closes(tmp_path):
    with _store(tmp_path / "x.jsonl") as s:
        s.append({"id": "a"})
    assert s._fh.closed
    assert (tmp_path / "x.jsonl").read_text() == '{"id": "a"}\n'


def test_manifest_records_what_ran(tmp_path):
    m = Manifest(tmp_path, "train", "k9", {"llm": {"api_key": "sk-1"}, "lr": 0.1})
    m.add_input("input_dir", tmp_path / "in", "k1")
    m.data["counts"]["pairs"] = 3
    m.save()
    d = load_manifest(tmp_path)
    assert d["stage"] == "train" and d["key"] == "k9" and d["complete"] is False
    assert d["finished"] is None and d["metrics"] == {} and d["timings"] == {}
    assert d["inputs"] == {"input_dir": {"path": str(tmp_path / "in"), "key": "k1"}}
    assert d["config"] == {"llm": {"api_key": REDACTED}, "lr": 0.1} and d["counts"] == {"pairs": 3}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", d["started"])
    assert "git_sha" in d and d["code"] == {}  # filled by the stage with what it loaded
    m.finish({"x": 2.0})
    d = load_manifest(str(tmp_path))
    assert d["complete"] is True and d["metrics"] == {"x": 2.0}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", d["finished"])


def test_is_complete_on_missing_corrupt_and_keyless_manifests(tmp_path):
    assert not is_complete(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    assert not is_complete(tmp_path)
    atomic_write_json(tmp_path / "manifest.json", {"key": "k"})
    assert not is_complete(tmp_path)
    atomic_write_json(tmp_path / "manifest.json", {"complete": True})
    assert is_complete(tmp_path) and not is_complete(tmp_path, "k")


def test_input_file_errors_name_the_config_key_and_producer(tmp_path):
    for missing in (None, "", "???"):
        with pytest.raises(
            ArtifactError,
            match=r"`input_dir` is required: pass input_dir=DIR, the run dir of `arm-exp explore`",
        ):
            input_file(missing, "trajectories.jsonl", config_key="input_dir", producer="explore")
    with pytest.raises(
        ArtifactError,
        match=r"input_dir=.*: no triplets\.jsonl there \(expected the run dir of `arm-exp synthesize`\)",
    ):
        input_file(tmp_path, "triplets.jsonl", config_key="input_dir", producer="synthesize")
    (tmp_path / "triplets.jsonl").write_text("")
    got = input_file(str(tmp_path), "triplets.jsonl", config_key="input_dir", producer="synthesize")
    assert got == tmp_path / "triplets.jsonl"


def test_input_key_looks_up_to_two_levels_above_a_file(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints" / "deep").mkdir(parents=True)
    assert input_key(run) is None  # a hand-made input: no manifest
    atomic_write_json(run / "manifest.json", {"key": "abc"})
    assert input_key(run) == "abc"
    assert input_key(str(run / "triplets.jsonl")) == "abc"  # a file in the run dir
    (run / "checkpoints" / "best.ckpt").write_bytes(b"x")
    assert input_key(run / "checkpoints" / "best.ckpt") == "abc"
    (run / "checkpoints" / "deep" / "f").write_bytes(b"x")
    assert input_key(run / "checkpoints" / "deep" / "f") == "abc"  # two levels up
    (run / "checkpoints" / "deep" / "more").mkdir()
    (run / "checkpoints" / "deep" / "more" / "f").write_bytes(b"x")
    assert input_key(run / "checkpoints" / "deep" / "more" / "f") is None  # three: too far
    atomic_write_json(run / "checkpoints" / "manifest.json", {"key": "near"})
    assert input_key(run / "checkpoints" / "best.ckpt") == "near"  # the nearest wins


def test_is_secret_key_reads_the_last_part_of_a_dotted_key():
    for key in ("api_key", "llm.api_key", "judge.llm.api_key", "PASSWORD", "x.my_access_token"):
        assert is_secret_key(key), key
    # the name of an env var holding a key, a group named like a secret, a key inside a name
    for key in ("llm.api_key_env", "api_key.note", "secret.path", "llm.keystone", "llm"):
        assert not is_secret_key(key), key


# -- the code a run depended on (manifest "code") -----------------------------------------------


def _sha16(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:16]


def test_source_hashes_name_files_from_the_project_root_and_skip_missing_ones(tmp_path):
    inside = PROJECT_ROOT / "arm_exp" / "artifacts.py"
    outside = tmp_path / "extra.yaml"
    outside.write_text("a: 1\n")
    got = source_hashes([str(inside), outside, tmp_path / "gone.py", tmp_path])
    # a project file by its path in the project, any other by its absolute path; the content's
    # hash (16 hex digits of SHA-256); a missing file or a directory is left out; sorted names
    assert got == {
        "arm_exp/artifacts.py": _sha16(inside.read_bytes()),
        str(outside.resolve()): _sha16(b"a: 1\n"),
    }
    assert list(got) == sorted(got) and source_hashes([]) == {}


def test_changed_sources_names_the_files_edited_or_gone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a project file's name is read from the project root, not cwd
    conf = tmp_path / "conf.yaml"
    conf.write_text("a: 1")
    manifest = {"code": source_hashes([PROJECT_ROOT / "arm_exp" / "artifacts.py", conf])}
    assert changed_sources(manifest) == []
    conf.write_text("a: 2")
    assert changed_sources(manifest) == [str(conf.resolve())]
    conf.unlink()
    assert changed_sources(manifest) == [str(conf.resolve())]
    stale = {"code": {"arm_exp/artifacts.py": "0" * 16, "arm_exp/nope.py": "1" * 16}}
    assert changed_sources(stale) == ["arm_exp/artifacts.py", "arm_exp/nope.py"]
    # a run that recorded no code (an older manifest) cannot be vouched for
    assert changed_sources({}) == changed_sources({"code": {}}) == ["<no code recorded>"]


def test_code_version_is_one_hash_of_the_code_record():
    code = {"arm_exp/a.py": "0123456789abcdef", "conf/base.yaml": "fedcba9876543210"}
    assert code_version(code) == content_key(code) and len(code_version(code)) == 16
    assert code_version(code) != code_version({**code, "conf/base.yaml": "0" * 16})


# -- a reward-model checkpoint's lineage ----------------------------------------------------------

LINEAGE = {"benchmark": "game24", "train_key": "ckpt-key", "code_version": "ckpt-code"}


def _save_ckpt(path, lineage=None, **meta):
    """A tiny checkpoint in the layout `train` writes: Lightning's entries and arm-exp's own."""
    import torch

    if lineage is not None:
        meta["lineage"] = lineage
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {"arm_exp": meta, "state_dict": {"model.head.weight": torch.ones(1, 8)}, "epoch": 0}
    torch.save(obj, path)
    return path


def test_checkpoint_lineage_reads_what_the_checkpoint_carries(tmp_path):
    ckpt = _save_ckpt(tmp_path / "renamed.ckpt", LINEAGE, spec={"package": "x"})
    assert checkpoint_lineage(ckpt) == LINEAGE and checkpoint_lineage(str(ckpt)) == LINEAGE
    # only a .ckpt file has one: the same bytes under another name are some other file
    other = tmp_path / "weights.pt"
    other.write_bytes(ckpt.read_bytes())
    assert checkpoint_lineage(other) == {}
    (tmp_path / "dir.ckpt").mkdir()
    assert checkpoint_lineage(tmp_path / "dir.ckpt") == {}
    assert checkpoint_lineage(tmp_path / "missing.ckpt") == {}


@pytest.mark.parametrize(
    "obj",
    [
        [1, 2],  # not a dict at all
        {"state_dict": {}},  # a Lightning checkpoint that is not arm-exp's
        {"arm_exp": "v1"},  # an entry of another shape
        {"arm_exp": {"spec": {}}},  # an older arm-exp checkpoint: no lineage yet
        {"arm_exp": {"lineage": "abc"}},
        {"arm_exp": {"lineage": None}},
    ],
    ids=["list", "lightning", "str-entry", "older", "str-lineage", "null-lineage"],
)
def test_checkpoint_lineage_is_empty_for_any_other_checkpoint(tmp_path, obj):
    import torch

    torch.save(obj, tmp_path / "x.ckpt")
    assert checkpoint_lineage(tmp_path / "x.ckpt") == {}


def test_checkpoint_lineage_of_an_unreadable_file_is_empty(tmp_path):
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    assert checkpoint_lineage(tmp_path / "junk.ckpt") == {}


@pytest.mark.parametrize("old_torch_default", [False, True], ids=["torch-default", "no-wo-default"])
def test_checkpoint_lineage_never_runs_a_pickled_payload(tmp_path, monkeypatch, old_torch_default):
    marker = tmp_path / "payload-ran"
    ckpt = write_poisoned_checkpoint(tmp_path / "p.ckpt", marker, {"arm_exp": {"lineage": LINEAGE}})
    if old_torch_default:
        # torch < 2.6 unpickles anything unless told weights_only=True; this variable restores
        # that default on newer torch, so the call must say it
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    assert checkpoint_lineage(ckpt) == {}  # refused: no lineage from a file that runs code
    assert not marker.exists()


def test_checkpoint_lineage_of_a_checkpoint_saved_on_a_gpu(tmp_path, monkeypatch):
    """A checkpoint written on a training node's GPU (its tensors tagged ``cuda:7``) says what it
    is on a machine without that GPU: its tensors are mapped to the CPU."""
    import torch.serialization

    real = torch.serialization.location_tag
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:7")
    ckpt = _save_ckpt(tmp_path / "gpu.ckpt", LINEAGE)
    monkeypatch.setattr(torch.serialization, "location_tag", real)
    assert checkpoint_lineage(ckpt) == LINEAGE


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc/self/maps")
def test_checkpoint_lineage_maps_the_weights_instead_of_reading_them(tmp_path, monkeypatch):
    """Reading the lineage of a multi-GB checkpoint must not read its weights: the loaded
    tensors are a memory map of the file (their bytes are read only if touched)."""
    import torch

    loaded: list = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loaded.append(real(*a, **k)) or loaded[-1])
    ckpt = _save_ckpt(tmp_path / "big.ckpt", LINEAGE)
    assert checkpoint_lineage(ckpt) == LINEAGE
    ptr = loaded[0]["state_dict"]["model.head.weight"].data_ptr()
    mapped = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, *rest = line.split(maxsplit=5)
        lo, hi = (int(x, 16) for x in span.split("-"))
        if lo <= ptr < hi:
            mapped.append(rest[-1] if len(rest) == 5 else "")
    assert mapped == [str(ckpt.resolve())]


def test_input_key_prefers_a_checkpoints_own_train_key(tmp_path):
    run = tmp_path / "run"
    atomic_write_json(run / "manifest.json", {"key": "dir-key"})
    assert input_key(_save_ckpt(run / "checkpoints" / "best.ckpt", LINEAGE)) == "ckpt-key"
    # a copy anywhere still says which train run made it
    assert input_key(_save_ckpt(tmp_path / "elsewhere" / "rm.ckpt", LINEAGE)) == "ckpt-key"
    # without a train_key: the run dir around it
    assert input_key(_save_ckpt(run / "checkpoints" / "old.ckpt", {"benchmark": "x"})) == "dir-key"


def test_input_code_version_from_the_checkpoint_or_the_producing_runs_manifest(tmp_path):
    code = {"arm_exp/stages/synthesize.py": "0123456789abcdef"}
    run = tmp_path / "runs" / "synth"
    (run / "a" / "b" / "c").mkdir(parents=True)
    assert input_code_version(run) is None  # a hand-made input: no manifest
    atomic_write_json(run / "manifest.json", {"key": "k", "code": code})
    want = code_version(code)
    assert input_code_version(run) == want  # the run dir itself (its parent has no manifest)
    assert input_code_version(str(run / "triplets.jsonl")) == want  # a file in it
    (run / "a" / "b" / "f").write_text("x")
    assert input_code_version(run / "a" / "b" / "f") == want  # two levels down
    (run / "a" / "b" / "c" / "f").write_text("x")
    assert input_code_version(run / "a" / "b" / "c" / "f") is None  # three: too far
    # a checkpoint's own lineage comes first, wherever it sits; without a code version in it,
    # the run dir around it
    assert input_code_version(_save_ckpt(run / "a" / "x.ckpt", LINEAGE)) == "ckpt-code"
    assert input_code_version(_save_ckpt(run / "a" / "y.ckpt", {"train_key": "t"})) == want
    # a run that recorded no code has no version
    for manifest in ({"key": "k"}, {"key": "k", "code": {}}):
        atomic_write_json(run / "manifest.json", manifest)
        assert input_code_version(run) is None
