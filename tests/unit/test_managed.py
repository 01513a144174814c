"""ManagedServer's command building and replicas, without starting anything heavy."""

from __future__ import annotations

import sys
import threading
import time
import urllib.request

import pytest

from arm_exp.errors import LLMError
from arm_exp.llm.managed import ManagedServer, free_port, replicas


def test_placeholders_and_lazy_model():
    calls = []

    def model() -> str:
        calls.append(1)
        return "/models/x"

    s = ManagedServer(
        ["{python}", "--model", "{model}", "--port", "{port}", '--json={"a": 1}'], model=model
    )
    s.port = 1234
    assert calls == []  # nothing is resolved when the object is built
    argv = s.argv()
    assert argv == [sys.executable, "--model", "/models/x", "--port", "1234", '--json={"a": 1}']
    s.argv()
    assert calls == [1]  # resolved once
    with pytest.raises(ValueError, match="model"):
        ManagedServer(["x", "{model}"]).argv()


def test_extra_args_come_last_so_they_win():
    s = ManagedServer(["srv", "--share", "0.9"], extra_args=["--share", 0.6])
    s.port = 1
    assert s.argv() == ["srv", "--share", "0.9", "--share", "0.6"]  # argparse: the last counts


def test_missing_executable_names_the_fix(tmp_path):
    s = ManagedServer(
        [str(tmp_path / ".venv-vllm" / "bin" / "python"), "-V"], log_dir=str(tmp_path)
    )
    with pytest.raises(LLMError, match="make vllm-cpu"):
        s.start()
    assert not s.alive()


def test_replicas_get_their_own_devices(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    reps = replicas(["srv", "--tp", "2"], count=3, devices_per_replica=2, env={"A": "1"})
    assert [r.env for r in reps] == [
        {"A": "1", "CUDA_VISIBLE_DEVICES": "0,1"},
        {"A": "1", "CUDA_VISIBLE_DEVICES": "2,3"},
        {"A": "1", "CUDA_VISIBLE_DEVICES": "4,5"},
    ]
    assert [r.name for r in reps] == ["replica 0", "replica 1", "replica 2"]
    assert replicas(["srv"], count=2, device_env=None)[1].env == {}
    with pytest.raises(ValueError, match="count"):
        replicas(["srv"], count=0)


def test_a_real_process_starts_healthy_and_stops(tmp_path):
    """A tiny HTTP server as the managed process: health wait, then stop kills the group."""
    port = free_port()
    s = ManagedServer(
        ["{python}", "-m", "http.server", "--bind", "{host}", "{port}"],
        port=port,
        health_path="/",
        ready_timeout_s=30,
        log_dir=str(tmp_path),
    )
    with s:
        assert s.alive() and s.base_url.endswith(str(port))
        proc = s.proc
    assert proc is not None and proc.poll() is not None and not s.alive()


@pytest.mark.parametrize(
    ("visible", "count", "per", "expected"),
    [
        ("3", 1, 1, ["3"]),
        ("4,5,6,7", 2, 2, ["4,5", "6,7"]),
        ("0,1,2,3,4,5,6,7", 8, 1, [str(d) for d in range(8)]),
        ("GPU-a,GPU-b", 2, 1, ["GPU-a", "GPU-b"]),  # UUIDs, as some clusters set them
    ],
)
def test_replicas_take_the_jobs_own_devices(monkeypatch, visible, count, per, expected):
    """A SLURM job given GPUs 4-7 must not start its replicas on 0-3 (another job's GPUs)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    reps = replicas(["srv"], count=count, devices_per_replica=per)
    assert [r.env["CUDA_VISIBLE_DEVICES"] for r in reps] == expected


def test_more_replicas_than_the_job_has_devices_is_refused(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    with pytest.raises(ValueError, match=r"llm.managed.count=2 x devices_per_replica=2.*has 2"):
        replicas(["srv"], count=2, devices_per_replica=2)


def test_a_server_started_by_a_short_lived_thread_outlives_it(tmp_path):
    """``plan`` starts the policy's server from whichever task thread calls first; that thread
    ends with its task while the other tasks keep using the server. Linux's parent-death signal
    follows the forking *thread*: the server must not die with it."""
    s = ManagedServer(
        ["{python}", "-m", "http.server", "--bind", "{host}", "{port}"],
        health_path="/",
        ready_timeout_s=30,
        log_dir=str(tmp_path),
    )
    worker = threading.Thread(target=s.start)
    worker.start()
    worker.join()
    try:
        time.sleep(1.5)  # the parent-death signal arrives at once; give it ample time
        assert s.alive(), f"server died with its starting thread: {s.proc and s.proc.returncode}"
        with urllib.request.urlopen(s.base_url + "/", timeout=5) as r:
            assert r.status == 200
        proc = s.proc
    finally:
        s.stop()
    assert proc is not None and proc.poll() is not None
    assert s._owner is not None
    s._owner.join(5)
    assert not s._owner.is_alive()  # the owner thread ends with its server
