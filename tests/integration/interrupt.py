"""Signalling a stage at a chosen point, whatever the machine's speed.

The stage runs as ``python -m arm_exp.cli <stage> ...`` (the real entry point and its signal
handlers) with one of the Hydra callbacks below (``hydra.callbacks``, given on the command line by
:func:`stop_after_records`, :func:`stop_after_jobs` or :func:`stop_in_epoch`). When the stage
reaches that point (its Nth record appended, its Nth sweep job ended, a training step of epoch E)
the process stops itself (SIGSTOP, every thread at once). The test waits for the stop
(:func:`wait_stopped`), then sends the signal under test and SIGCONT (:func:`signal_stopped`):
the stage handles the signal at that point and cannot have finished before it arrives, however
fast the machine or however loaded.

:func:`start` launches the stage with SIGINT at its default action, as a terminal does: a
background job of a non-interactive shell (a CI script run with ``&``) inherits SIGINT ignored,
and Python then never raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

ROOT = Path(__file__).resolve().parents[2]


def _stop() -> None:
    os.kill(os.getpid(), signal.SIGSTOP)


class StopAfterRecords(Callback):
    """Stop the stage right after it appended its ``records``-th record to ``file`` (a
    :class:`~arm_exp.artifacts.ResumableJsonl` such as ``episodes.jsonl``)."""

    def __init__(self, file: str, records: int) -> None:
        self.file = file
        self.records = records

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        from arm_exp.artifacts import ResumableJsonl

        append = ResumableJsonl.append
        written = 0

        def append_then_stop(store: ResumableJsonl, record: Any) -> None:
            nonlocal written
            append(store, record)
            if store.path.name == self.file:
                written += 1
                if written == self.records:
                    _stop()

        ResumableJsonl.append = append_then_stop  # type: ignore[method-assign]


class StopAfterJobs(Callback):
    """Stop a sweep (``-m``, jobs in this process) right after its ``jobs``-th job ended."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.ended = 0

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        self.ended += 1
        if self.ended == self.jobs:
            _stop()


class StopInEpoch(Callback):
    """Stop ``train`` after its first training step of (0-based) ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        # The reward model's class, not one of the stage's: the stage module runs as __main__.
        from arm_exp.reward.module import RewardModule

        inherited = RewardModule.on_train_batch_end
        stopped = False

        def on_train_batch_end(module: RewardModule, *args: Any) -> None:
            nonlocal stopped
            inherited(module, *args)
            if module.current_epoch == self.epoch and not stopped:
                stopped = True
                _stop()

        RewardModule.on_train_batch_end = on_train_batch_end  # type: ignore[method-assign]


def _hook(cls: type[Callback], **params: object) -> list[str]:
    return [f"+hydra.callbacks.stop._target_={__name__}.{cls.__name__}"] + [
        f"+hydra.callbacks.stop.{k}={v}" for k, v in params.items()
    ]


def stop_after_records(file: str, records: int) -> list[str]:
    """The overrides that make the stage stop itself after its ``records``-th ``file`` record."""
    return _hook(StopAfterRecords, file=file, records=records)


def stop_after_jobs(jobs: int) -> list[str]:
    """The overrides that make a sweep stop itself after its ``jobs``-th job."""
    return _hook(StopAfterJobs, jobs=jobs)


def stop_in_epoch(epoch: int) -> list[str]:
    """The overrides that make ``train`` stop itself in (0-based) ``epoch``."""
    return _hook(StopInEpoch, epoch=epoch)


def start(args: list[str], stderr: Any = subprocess.DEVNULL, **popen: Any) -> subprocess.Popen:
    """``python -m <args>`` from the repository root, SIGINT at its default action.

    A handled signal is reset to its default action across exec, an ignored one stays ignored:
    the parent handles SIGINT while it forks."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            stdout=popen.pop("stdout", subprocess.DEVNULL),
            stderr=stderr,
            **popen,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_stopped(proc: subprocess.Popen, timeout_s: float = 300) -> None:
    """Wait until ``proc`` has stopped itself (SIGSTOP); fail if it ends or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid, status = os.waitpid(proc.pid, os.WNOHANG | os.WUNTRACED)
        if pid and os.WIFSTOPPED(status):
            return
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            raise AssertionError(f"the stage ended (status {proc.returncode}) before its stop")
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    raise AssertionError(f"the stage did not stop within {timeout_s} s")


def signal_stopped(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the stopped ``proc`` and let it go on: it handles ``sig`` first."""
    proc.send_signal(sig)
    os.kill(proc.pid, signal.SIGCONT)
