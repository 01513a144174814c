"""Content-addressed, atomic, resumable artifacts.

A stage run dir holds the stage's artifact files (fixed names: ``trajectories.jsonl``,
``triplets.jsonl``, ``episodes.jsonl``, ``metrics.json``, ...) and a ``manifest.json`` with the
resolved config (secrets redacted), the git SHA, the inputs (paths and keys), counts, timings and
a ``complete`` flag. A stage's *key* is a hash of the config subtree that determines its output
plus its inputs' keys, so ``pipeline`` can reuse a finished run instead of recomputing it. The
manifest also records ``code``: the content hash of every source file the run depended on (the
``arm_exp`` modules its process loaded, the ``conf/`` files it composed), so a reuse can check
that the code is still the same (:func:`changed_sources`), committed or not.

Writes are atomic (temp file + ``os.replace``). JSONL artifacts are appended one flushed line per
record; reopening a file after a crash drops a torn last line and reports which ids are done, so
an interrupted stage continues where it stopped without duplicating or losing records.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from arm_exp.errors import ArtifactError

T = TypeVar("T")

PACKAGE_DIR = Path(__file__).resolve().parent
# The project root: the clone arm_exp is installed from (editable), holding conf/ and outputs/.
PROJECT_ROOT = PACKAGE_DIR.parent
MANIFEST = "manifest.json"
# The entry of a reward-model checkpoint that holds arm-exp's own data (spec, renderer,
# calibration, lineage) beside Lightning's.
CKPT_KEY = "arm_exp"
METRICS = "metrics.json"

# Keys whose values are secrets. `api_key_env` (the *name* of an env var) is not one of them.
_SECRET_KEY = re.compile(
    r"(^|_)(api_key|apikey|secret|password|passwd|access_token|auth_token)$", re.I
)
REDACTED = "<redacted>"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None


def is_secret_key(key: str) -> bool:
    """Whether a (dotted) config key names a secret: its last part does (``llm.api_key``)."""
    return bool(_SECRET_KEY.search(key.rpartition(".")[2]))


def redact(obj: Any) -> Any:
    """A copy of a config-like structure with secret-looking keys' values replaced."""
    if isinstance(obj, dict):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) and v else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def content_key(config: Any, input_keys: Iterable[str] = ()) -> str:
    """A stable 16-hex-digit hash of a JSON-able config subtree and the inputs' keys."""
    payload = json.dumps(
        {"config": config, "inputs": sorted(input_keys)}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def git_sha(repo_dir: str | Path | None = None) -> str | None:
    """The HEAD commit of the repository holding the package (``+dirty`` if modified)."""
    cwd = Path(repo_dir) if repo_dir else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _source_name(path: Path) -> str:
    """A source file's name in a manifest: relative to the project root when under it."""
    try:
        return path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path.resolve())


def _hash_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def source_hashes(paths: Iterable[str | Path]) -> dict[str, str]:
    """``{name: content hash}`` of source files (names relative to the project root), sorted."""
    out = {}
    for p in paths:
        digest = _hash_file(Path(p))
        if digest is not None:
            out[_source_name(Path(p))] = digest
    return dict(sorted(out.items()))


def changed_sources(manifest: dict[str, Any]) -> list[str]:
    """The source files a run recorded (``manifest["code"]``) whose content is not the same now
    (edited, or gone); ``["<no code recorded>"]`` for a run that recorded none."""
    code = manifest.get("code")
    if not code:
        return ["<no code recorded>"]
    changed = []
    for name, digest in code.items():
        path = PROJECT_ROOT / name  # a name outside the project is absolute: it stays itself
        if _hash_file(path) != digest:
            changed.append(name)
    return changed


def code_version(code: dict[str, str]) -> str:
    """One hash for a run's ``code`` record (a checkpoint's lineage carries it)."""
    return content_key(code)


class JsonlError(ArtifactError):
    pass


def iter_jsonl(
    path: str | Path, *, skip_bad: bool = False, stats: dict[str, int] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each line of a JSONL file.

    A non-JSON line raises :class:`JsonlError` naming file and line, unless ``skip_bad`` is set,
    in which case it is counted in ``stats["skipped_lines"]``. A torn last line (a crash in the
    middle of a write: no trailing newline) is always skipped and counted as ``torn_lines``.
    """
    path = Path(path)
    if not path.exists():
        raise JsonlError(f"{path}: file not found")
    with path.open("rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    torn = lines[-1] != b""
    for i, raw in enumerate(lines[:-1] if not torn else lines, start=1):
        if not raw.strip():
            continue
        is_last_torn = torn and i == len(lines)
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("a JSON line must be an object")
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
            if is_last_torn:
                if stats is not None:
                    stats["torn_lines"] = stats.get("torn_lines", 0) + 1
                continue
            if skip_bad:
                if stats is not None:
                    stats["skipped_lines"] = stats.get("skipped_lines", 0) + 1
                continue
            raise JsonlError(f"{path}:{i}: not a JSON object ({e})") from None
        # A valid last line without its newline is a complete record (the writer died between
        # the payload and the newline): keep it.
        yield i, obj


def read_records(
    path: str | Path,
    parse: Callable[[dict[str, Any]], T],
    *,
    skip_bad: bool = False,
    stats: dict[str, int] | None = None,
) -> list[T]:
    """Read a JSONL artifact into records; errors name the file and the line."""
    out: list[T] = []
    for lineno, obj in iter_jsonl(path, skip_bad=skip_bad, stats=stats):
        try:
            out.append(parse(obj))
        except (TypeError, KeyError, ValueError) as e:
            if skip_bad:
                if stats is not None:
                    stats["skipped_records"] = stats.get("skipped_records", 0) + 1
                continue
            raise JsonlError(
                f"{path}:{lineno}: malformed record ({type(e).__name__}: {e})"
            ) from None
    return out


class ResumableJsonl(Generic[T]):
    """An append-only JSONL artifact that survives crashes and resumes without duplicates.

    On open, complete lines already in the file are loaded (their ``id`` fields are the done
    set) and a torn last line is cut off the file. :meth:`append` writes one line and flushes it
    (fsync every ``fsync_every`` records), so a kill loses at most the record being written.
    :meth:`finalize` rewrites the file in a canonical order so that an interrupted-and-resumed
    run is byte-identical to an uninterrupted one.
    """

    def __init__(
        self,
        path: str | Path,
        parse: Callable[[dict[str, Any]], T],
        dump: Callable[[T], str],
        key: Callable[[T], str],
        *,
        fsync_every: int = 16,
    ) -> None:
        self.path = Path(path)
        self._parse = parse
        self._dump = dump
        self._key = key
        self._fsync_every = fsync_every
        self._since_sync = 0
        self.records: dict[str, T] = {}
        self.stats: dict[str, int] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._fh = self.path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # Cut a torn final line so the next append starts on a fresh line.
            cut = data.rfind(b"\n") + 1
            torn = data[cut:]
            try:
                json.loads(torn)
                data = data + b"\n"  # complete payload, only the newline was lost
            except (json.JSONDecodeError, UnicodeDecodeError):
                data = data[:cut]
                self.stats["torn_lines"] = 1
            with self.path.open("wb") as f:
                f.write(data)
        for rec in read_records(self.path, self._parse, stats=self.stats):
            k = self._key(rec)
            if k in self.records:
                raise JsonlError(f"{self.path}: duplicate record id {k!r}")
            self.records[k] = rec

    @property
    def done_ids(self) -> set[str]:
        return set(self.records)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def append(self, record: T) -> None:
        k = self._key(record)
        if k in self.records:
            raise JsonlError(f"{self.path}: record id {k!r} written twice")
        line = self._dump(record)
        if "\n" in line:
            raise ValueError("a JSONL record must serialize to one line")
        self._fh.write(line + "\n")
        self._fh.flush()
        self._since_sync += 1
        if self._since_sync >= self._fsync_every:
            os.fsync(self._fh.fileno())
            self._since_sync = 0
        self.records[k] = record

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def finalize(self, order: list[str] | None = None) -> list[T]:
        """Close and atomically rewrite the file with records in ``order`` (ids); returns them."""
        self.close()
        keys = order if order is not None else sorted(self.records)
        missing = [k for k in keys if k not in self.records]
        if missing:
            raise JsonlError(f"{self.path}: finalize with missing ids {missing[:5]}")
        extra = set(self.records) - set(keys)
        ordered = [self.records[k] for k in keys] + [self.records[k] for k in sorted(extra)]
        atomic_write_text(self.path, "".join(self._dump(r) + "\n" for r in ordered))
        return ordered

    def __enter__(self) -> ResumableJsonl[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Manifest:
    """The ``manifest.json`` of a stage run: what ran, on what, with what result.

    Rewritten atomically on every :meth:`save`; ``complete`` turns true only at the very end,
    so ``pipeline`` and resumed sweeps treat a run dir as finished only if its stage finished.
    """

    def __init__(self, run_dir: str | Path, stage: str, key: str, config: dict[str, Any]):
        self.run_dir = Path(run_dir)
        self.data: dict[str, Any] = {
            "stage": stage,
            "key": key,
            "complete": False,
            "git_sha": git_sha(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "finished": None,
            "inputs": {},
            "counts": {},
            "timings": {},
            "metrics": {},
            "config": redact(config),
            "code": {},
        }

    def add_input(self, name: str, path: str | Path, key: str | None) -> None:
        self.data["inputs"][name] = {"path": str(path), "key": key}

    def save(self) -> None:
        atomic_write_json(self.run_dir / MANIFEST, self.data)

    def finish(self, metrics: dict[str, float]) -> None:
        self.data["metrics"] = metrics
        self.data["complete"] = True
        self.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.save()


def load_manifest(run_dir: str | Path) -> dict[str, Any]:
    return read_json(Path(run_dir) / MANIFEST)


def is_complete(run_dir: str | Path, key: str | None = None) -> bool:
    """True iff ``run_dir`` holds a finished stage run (with the given key, if one is given)."""
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        return False
    try:
        m = read_json(path)
    except ArtifactError:
        return False
    return bool(m.get("complete")) and (key is None or m.get("key") == key)


def input_file(input_dir: str | Path | None, name: str, *, config_key: str, producer: str) -> Path:
    """The artifact ``name`` inside ``input_dir``; a clear error if it is not there."""
    if input_dir is None or str(input_dir) in ("", "???"):
        raise ArtifactError(
            f"`{config_key}` is required: pass {config_key}=DIR, the run dir of `arm-exp {producer}`"
        )
    path = Path(input_dir) / name
    if not path.exists():
        raise ArtifactError(
            f"{config_key}={input_dir}: no {name} there (expected the run dir of `arm-exp {producer}`)"
        )
    return path


def checkpoint_lineage(path: str | Path) -> dict[str, Any]:
    """The lineage a reward-model checkpoint carries (``train`` writes it: benchmark, split,
    triplets' key, train run's key, reward model, loss, git SHA, code version), so a copied or
    renamed ``.ckpt`` still says what it is (an exported folder keeps it in ``arm_exp.json``);
    empty for any other file or an older checkpoint.
    Memory-mapped: only the small entry is read, not the weights."""
    path = Path(path)
    if (path / "arm_exp.json").is_file():  # a folder written by `arm-exp export`
        data = read_json(path / "arm_exp.json")
        lineage = data.get("lineage") if isinstance(data, dict) else None
        return dict(lineage) if isinstance(lineage, dict) else {}
    if path.suffix != ".ckpt" or not path.is_file():
        return {}
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - an unreadable file has no lineage; loading it says why
        return {}
    meta = ckpt.get(CKPT_KEY) if isinstance(ckpt, dict) else None
    lineage = meta.get("lineage") if isinstance(meta, dict) else None
    return dict(lineage) if isinstance(lineage, dict) else {}


def input_code_version(input_path: str | Path) -> str | None:
    """The code version of the run that produced ``input_path`` (a checkpoint's lineage, else
    its run's manifest ``code``): a stage's key includes it, so data made by other code is
    another input (an edit that re-runs synthesize re-runs train on its new triplets)."""
    path = Path(input_path)
    lineage = checkpoint_lineage(path)
    if lineage.get("code_version"):
        return str(lineage["code_version"])
    start = path if path.is_dir() else path.parent
    for d in [start, *list(start.parents)[:2]]:
        if (d / MANIFEST).exists():
            code = read_json(d / MANIFEST).get("code")
            return code_version(code) if code else None
    return None


def input_key(input_path: str | Path) -> str | None:
    """The content key of the stage run that produced ``input_path`` (a run dir, or a file up to
    two levels inside one, like ``checkpoints/best.ckpt``); a checkpoint's own lineage first (a
    copy may sit in any dir); None for a hand-made input."""
    path = Path(input_path)
    train_key = checkpoint_lineage(path).get("train_key")
    if train_key:
        return str(train_key)
    start = path if path.is_dir() else path.parent
    for d in [start, *list(start.parents)[:2]]:
        if (d / MANIFEST).exists():
            return read_json(d / MANIFEST).get("key")
    return None
