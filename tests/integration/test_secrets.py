"""An API key set in the environment reaches the server and nothing on disk.

A fake ``OPENAI_API_KEY`` is set, ``arm-exp explore explorer=llm llm=openai_server`` runs through
the CLI against a local OpenAI-compatible server (W&B offline and CSV loggers on), and every file
of the run dir (``.hydra/``, manifest, metrics, logs, W&B's offline run, CSV logs) is grepped for
the key. The server must have received it, so the test proves the key was in use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest

from arm_exp.llm.http_server import serve
from tests.conftest import ROOT
from tests.integration.test_llm_faults import EchoLLM, FaultyHandler


@pytest.fixture
def server():
    httpd = serve(EchoLLM(), "echo", port=0)
    httpd.RequestHandlerClass = type(
        "Recording", (FaultyHandler, httpd.RequestHandlerClass), {"faults": [], "seen": []}
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()


@pytest.mark.parametrize(
    "wandb", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["csv", "csv+wandb"]
)
def test_api_key_never_reaches_the_run_dir(server, tmp_path, wandb):
    key = f"sk-fake-{uuid.uuid4().hex}"
    run_dir = tmp_path / "run"
    loggers = []
    if wandb:  # W&B's offline service takes ~30 s to start on a loaded 2-core box
        pytest.importorskip("wandb")
        loggers = ["+logger.wandb._target_=lightning.pytorch.loggers.WandbLogger",
                   "+logger.wandb.offline=true", f"+logger.wandb.save_dir={run_dir}",
                   "+logger.wandb.project=secrets-test"]  # fmt: skip
    cmd = [
        sys.executable, "-m", "arm_exp.cli", "explore", "explorer=llm", "llm=openai_server",
        f"llm.base_url=http://127.0.0.1:{server.server_address[1]}/v1", "llm.model=echo",
        "split=test", "limit=1", "explore.num_per_task=1", "benchmark.max_steps=4",
        "explore.invalid_action_retries=0", *loggers, f"hydra.run.dir={run_dir}", f"paths.root_dir={ROOT}",
    ]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": key, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "WANDB_DIR": str(run_dir)}  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any(s["auth"] == f"Bearer {key}" for s in server.RequestHandlerClass.seen)

    files = [p for p in run_dir.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"config.yaml", "overrides.yaml", "manifest.json", "explore.log"} <= names, names
    assert not wandb or any("wandb" in str(p) for p in files), "W&B's offline run is checked"
    leaks = [str(p) for p in files if key.encode() in p.read_bytes()]
    assert not leaks
    assert key.encode() not in proc.stdout + proc.stderr
