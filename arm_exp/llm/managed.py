"""Start and stop an LLM server process (``vllm serve`` or our own) for the duration of a run.

The command is a list with ``{host}`` and ``{port}`` placeholders. The process gets a free port
on 127.0.0.1, its own process group (so stopping it stops its workers too) and, on Linux, a
parent-death signal, so it cannot outlive us even if we are killed with SIGKILL. :meth:`stop`
runs at interpreter exit and on SIGTERM/SIGINT (the CLI turns those into a clean exit).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from arm_exp.llm.base import LLMError

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ManagedServer:
    """A server subprocess that is healthy between :meth:`start` and :meth:`stop`.

    Args:
        command: argv with ``{host}``/``{port}`` placeholders; ``{python}`` is this interpreter.
        host: interface to bind (loopback by default).
        port: fixed port, or None for a free one.
        health_path: GET path that answers 200 once the server can take requests.
        ready_timeout_s: how long to wait for health before giving up (with the log's tail).
        env: extra environment variables for the server.
        log_dir: where the server's stdout/stderr go (a temp dir by default).
    """

    def __init__(
        self,
        command: Sequence[str],
        host: str = "127.0.0.1",
        port: int | None = None,
        health_path: str = "/health",
        ready_timeout_s: float = 600.0,
        env: dict[str, str] | None = None,
        log_dir: str | None = None,
    ) -> None:
        self.command = list(command)
        self.host = host
        self.port = port
        self.health_path = health_path
        self.ready_timeout_s = ready_timeout_s
        self.env = dict(env or {})
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Start the server and wait until healthy; returns its base URL."""
        if self.proc is not None and self.proc.poll() is None:
            return self.base_url
        self.port = self.port or free_port(self.host)
        argv = [
            a.format(host=self.host, port=self.port, python=sys.executable) for a in self.command
        ]
        log_dir = Path(self.log_dir or tempfile.mkdtemp(prefix="arm-exp-server-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"server-{self.port}.log"
        log.info("starting %s (log: %s)", " ".join(argv), self.log_path)
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                argv,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        atexit.register(self.stop)
        self._wait_healthy()
        return self.base_url

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        url = self.base_url + self.health_path
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                self.stop()
                raise LLMError(
                    f"server {self.command[0]} exited with code {code} before it was healthy; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        log.info("server healthy at %s", self.base_url)
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise LLMError(
            f"server at {self.base_url} not healthy after {self.ready_timeout_s:.0f}s; "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after ``timeout_s``."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # Workers that outlived their leader (same process group).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def __enter__(self) -> ManagedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
