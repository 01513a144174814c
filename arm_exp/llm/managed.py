"""Start and stop an LLM server process (``vllm serve`` or our own) for the duration of a run.

The command is a list with ``{host}``, ``{port}``, ``{python}`` and ``{model}`` placeholders.
The process gets a free port on 127.0.0.1, its own process group (so stopping it stops its
workers too) and, on Linux, a parent-death signal, so it cannot outlive us even if we are killed
with SIGKILL. :meth:`stop` runs at interpreter exit and on SIGTERM/SIGINT (the CLI turns those
into a clean exit).

The parent-death signal follows the *thread* that forked the server (Linux semantics: the
signal fires when that thread exits, not when the process does). A server started from a
``plan`` worker thread was killed the moment that task's thread ended, while other tasks still
used it. So each server is forked by a thread of its own, its *owner*, which lives exactly as
long as the server: it is started by :meth:`ManagedServer.launch` from whatever thread asks,
and ends when :meth:`ManagedServer.stop` has stopped the process (or the interpreter exits).

:func:`replicas` builds several servers (data parallelism), each on its own slice of the job's
devices; :func:`start_all` launches them together and then waits for each, so their start-up
times overlap.
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
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from arm_exp.errors import LLMError

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
        command: argv with ``{host}``/``{port}`` placeholders; ``{python}`` is this interpreter
            and ``{model}`` the value of ``model``.
        model: what ``{model}`` stands for: a path or name, or a function returning one, called
            once before the first start (e.g. converting a GGUF file into an HF folder).
        host: interface to bind (loopback by default).
        port: fixed port, or None for a free one.
        health_path: GET path that answers 200 once the server can take requests.
        ready_timeout_s: how long to wait for health before giving up (with the log's tail).
        env: extra environment variables for the server.
        log_dir: where the server's stdout/stderr go (a temp dir by default).
        name: how log lines and errors name this server.
        extra_args: appended to ``command``: an experiment's change to a server config without
            repeating its command (a repeated vLLM flag: the last one counts, e.g.
            ``["--gpu-memory-utilization", "0.6"]``).
    """

    def __init__(
        self,
        command: Sequence[str | int | float],
        model: str | Callable[[], str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        health_path: str = "/health",
        ready_timeout_s: float = 600.0,
        env: dict[str, str] | None = None,
        log_dir: str | None = None,
        name: str = "server",
        extra_args: Sequence[str | int | float] = (),
    ) -> None:
        if not command:
            raise ValueError("ManagedServer needs a non-empty `command`")
        self.command = [str(a) for a in command] + [str(a) for a in extra_args]
        self.model = model
        self.name = name
        self.host = host
        self.port = port
        self.health_path = health_path
        self.ready_timeout_s = ready_timeout_s
        self.env = dict(env or {})
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.starts = 0
        self._owner: threading.Thread | None = None
        self._release = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Start the server and wait until healthy; returns its base URL."""
        self.launch()
        self.wait_healthy()
        return self.base_url

    def argv(self) -> list[str]:
        """The command with its placeholders filled (``{model}`` resolved once)."""
        if callable(self.model):
            self.model = str(self.model())
        fields = {
            "host": self.host,
            "port": self.port,
            "python": sys.executable,
            "model": "" if self.model is None else self.model,
        }
        if self.model is None and any("{model}" in a for a in self.command):
            raise ValueError(f"{self.name}: the command uses {{model}} but `model` is not set")
        # Plain replacement, not str.format: arguments may hold JSON with braces.
        out = []
        for a in self.command:
            for k, v in fields.items():
                a = a.replace("{" + k + "}", str(v))
            out.append(a)
        return out

    def launch(self) -> None:
        """Start the process (no health wait); a no-op while it is running."""
        if self.alive():
            return
        if self.proc is not None:
            self.stop()  # a dead leader: reap it and whatever of its process group is left
        self.port = self.port or free_port(self.host)
        argv = self.argv()
        exe = argv[0]
        if os.sep in exe and not os.access(exe, os.X_OK):
            raise LLMError(
                f"{self.name}: {exe} does not exist or is not executable"
                + (
                    "; build it with `make vllm-cpu`"
                    if ".venv-vllm" in exe
                    else "; check the first item of the managed server's `command`"
                )
            )
        log_dir = Path(self.log_dir or tempfile.mkdtemp(prefix="arm-exp-server-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"server-{self.port}.log"
        log.info("starting %s: %s (log: %s)", self.name, " ".join(argv), self.log_path)
        self.proc = self._fork_in_owner(argv, self.log_path)
        self.starts += 1
        atexit.register(self.stop)

    def _fork_in_owner(self, argv: list[str], log_path: Path) -> subprocess.Popen:
        """Fork the server from a new thread that then waits until :meth:`stop`: the parent-death
        signal is tied to that thread, so the server outlives the (maybe short-lived) caller and
        still dies with this process."""
        forked: list[subprocess.Popen | BaseException] = []
        ready = threading.Event()
        self._release = release = threading.Event()

        def own() -> None:
            try:
                with open(log_path, "ab") as logf:
                    forked.append(
                        subprocess.Popen(
                            argv,
                            stdout=logf,
                            stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL,
                            env={**os.environ, **self.env},
                            start_new_session=True,
                            preexec_fn=_die_with_parent
                            if sys.platform.startswith("linux")
                            else None,
                        )
                    )
            except BaseException as e:  # noqa: BLE001 - handed to the caller below
                forked.append(e)
            ready.set()
            release.wait()

        # A daemon: interpreter shutdown joins non-daemon threads *before* atexit runs stop().
        self._owner = threading.Thread(target=own, name=f"owner of {self.name}", daemon=True)
        self._owner.start()
        ready.wait()
        result = forked[0]
        if isinstance(result, BaseException):
            release.set()
            raise result
        return result

    def wait_healthy(self) -> None:
        """Block until the health endpoint answers 200; stop the server and raise if it dies
        or ``ready_timeout_s`` passes (the error carries the log's tail)."""
        deadline = time.monotonic() + self.ready_timeout_s
        url = self.base_url + self.health_path
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                self.stop()
                raise LLMError(
                    f"{self.name} ({self.command[0]}) exited with code {code} before it was "
                    f"healthy; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        log.info("%s healthy at %s", self.name, self.base_url)
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise LLMError(
            f"{self.name} at {self.base_url} not healthy after {self.ready_timeout_s:.0f}s; "
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
        try:
            self._terminate(proc, timeout_s)
        finally:
            self._release.set()  # the owner thread ends once its server is gone

    def _terminate(self, proc: subprocess.Popen, timeout_s: float) -> None:
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
        # Workers that outlived their leader (same process group); wait (bounded) until they
        # are gone, so that a caller sees no orphan once stop() returns.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.05)

    def __enter__(self) -> ManagedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def job_devices(device_env: str = "CUDA_VISIBLE_DEVICES") -> list[str] | None:
    """The devices this job was given (``device_env``'s comma-separated list, as SLURM and
    ``submitit`` set it), or None where the variable is unset (every device of the machine)."""
    value = os.environ.get(device_env)
    if value is None:
        return None
    return [d.strip() for d in value.split(",") if d.strip()]


def replicas(
    command: Sequence[str | int | float],
    count: int,
    devices_per_replica: int = 1,
    device_env: str | None = "CUDA_VISIBLE_DEVICES",
    first_device: int = 0,
    **kwargs: object,
) -> list[ManagedServer]:
    """``count`` identical servers (data parallelism), replica ``i`` on its own devices.

    Replica ``i`` gets the ``devices_per_replica`` devices from position
    ``first_device + i*devices_per_replica`` of the *job's* device list (``device_env`` as this
    process sees it: a SLURM job on GPUs 4-7 has ``CUDA_VISIBLE_DEVICES=4,5,6,7``, so its replica
    1 of 2 GPUs is ``6,7``, not ``2,3``); where the variable is unset, of the machine's devices
    0, 1, ... It is set through the same variable (so ``--tensor-parallel-size`` inside a
    replica stays the same); ``device_env=None`` sets nothing (CPU replicas). More devices than
    the job has is an error naming the keys. Other arguments go to each
    :class:`ManagedServer`. The ``openai_server`` client sends requests round-robin.
    """
    if count < 1:
        raise ValueError(f"replicas: count={count} must be >= 1")
    if devices_per_replica < 1:
        raise ValueError(f"replicas: devices_per_replica={devices_per_replica} must be >= 1")
    env = dict(kwargs.pop("env", None) or {})  # type: ignore[call-overload]
    visible = job_devices(device_env) if device_env else None
    needed = first_device + count * devices_per_replica
    if visible is not None and needed > len(visible):
        raise ValueError(
            f"replicas: llm.managed.count={count} x devices_per_replica={devices_per_replica} "
            f"(from device {first_device}) needs {needed} devices but this job has "
            f"{len(visible)} ({device_env}={','.join(visible)}); lower the count or ask the "
            "launcher for more GPUs"
        )
    out = []
    for i in range(count):
        start = first_device + i * devices_per_replica
        slots = range(start, start + devices_per_replica)
        devices = ",".join(visible[d] if visible is not None else str(d) for d in slots)
        extra = {device_env: devices} if device_env else {}
        out.append(
            ManagedServer(command, env={**env, **extra}, name=f"replica {i}", **kwargs)  # type: ignore[arg-type]
        )
    return out


def start_all(servers: Sequence[ManagedServer]) -> list[str]:
    """Launch every server that is not running, then wait for each; returns their base URLs.

    If one fails to become healthy, all of them are stopped and the error is raised.
    """
    try:
        for s in servers:
            s.launch()
        for s in servers:
            s.wait_healthy()
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return [s.base_url for s in servers]
