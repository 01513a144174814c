"""ManagedServer's command building and replicas, without starting anything heavy."""

from __future__ import annotations

import sys

import pytest

from arm_exp.llm.base import LLMError
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


def test_missing_executable_names_the_fix(tmp_path):
    s = ManagedServer(
        [str(tmp_path / ".venv-vllm" / "bin" / "python"), "-V"], log_dir=str(tmp_path)
    )
    with pytest.raises(LLMError, match="make vllm-cpu"):
        s.start()
    assert not s.alive()


def test_replicas_get_their_own_devices():
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
