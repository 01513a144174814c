"""A stage's life cycle as a command: check the config, run, report, exit.

:func:`run_command` is every stage's ``main`` (:meth:`arm_exp.stages.base.Stage.main`): it
checks the command line and the composed config before anything is loaded
(:mod:`arm_exp.config_check`), runs the stage's ``run`` under ``hydra.main``, prints its result
(also into ``<stage>.log``) and ends errors with one line and the exit status of their class
(:mod:`arm_exp.errors`).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arm_exp.errors import CONFIG_EXIT, SIGINT_EXIT, ArmExpError

if TYPE_CHECKING:
    from arm_exp.stages.base import Stage


def echo(text: str) -> None:
    """Print ``text`` and append it to the run's log file (Hydra's file handler), so that
    ``<stage>.log`` holds what the terminal showed: the metrics and where the run went."""
    print(text, flush=True)
    _to_log_file(text, logging.INFO)


def _to_log_file(text: str, level: int) -> None:
    record = logging.LogRecord("arm_exp", level, __file__, 0, text, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _unclaimed(out: Path, log_name: str) -> bool:
    """Whether run dir ``out`` holds nothing a run made: only Hydra's ``.hydra/``, the stage's
    log, a manifest of a run that never completed, and empty dirs (a logger's)."""
    import json

    if not out.is_dir():
        return False
    for entry in out.iterdir():
        if entry.name in (".hydra", log_name):
            continue
        if entry.name == "manifest.json":
            try:
                if not json.loads(entry.read_text()).get("complete"):
                    continue
            except (OSError, ValueError):
                pass
            return False
        if entry.is_dir() and not any(p.is_file() for p in entry.rglob("*")):
            continue
        return False
    return True


def benchmark_of_input(cfg: Any, config_name: str) -> Any:
    """``cfg`` on the benchmark its input was made on, when the command line names none.

    A stage reading a run dir (``input_dir``) or a checkpoint (``rm_ckpt``) that says which
    benchmark it was made on (:func:`arm_exp.stages.record.upstream_label`) runs on that benchmark,
    recomposed as if ``benchmark=<it>`` had been given, unless ``benchmark=`` or ``experiment=``
    is on the command line: then the stage refuses a mismatch, as before. Returns ``cfg``
    unchanged when nothing is to adopt.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    from arm_exp.config import CONF_DIR, compose, override_root
    from arm_exp.stages.record import same_benchmark, upstream_label

    if "benchmark" not in cfg or not HydraConfig.initialized():
        return cfg
    hc = HydraConfig.get()
    task = [str(o) for o in hc.overrides.task]
    if {override_root(o.partition("=")[0]) for o in task} & {"benchmark", "experiment"}:
        return cfg
    current = str(cfg.benchmark.name)
    for key in ("input_dir", "rm_ckpt"):
        value = cfg.get(key)
        label = upstream_label(Path(str(value))) if value and Path(str(value)).exists() else None
        if not label or same_benchmark(current, label):
            continue
        options = sorted(p.stem for p in (Path(CONF_DIR) / "benchmark").glob("*.yaml"))
        option = next((o for o in options if same_benchmark(o, label)), None)
        if option is None:
            return cfg  # no such benchmark here: the stage refuses the input with its reason
        echo(f"[{config_name}] benchmark={option}: {key}={value} was made on {label!r}")
        new = compose(config_name, [*task, f"benchmark={option}"], set_hydra_config=False)
        with read_write(new), open_dict(new):
            new.hydra = hc  # this app's own (run dir, job, mode), its choice updated
        choices, given = new.hydra.runtime.choices, new.hydra.overrides.task
        with read_write(choices), open_dict(choices), read_write(given):
            choices.benchmark = option
            given.append(f"benchmark={option}")
        HydraConfig.instance().set_config(new)
        return new
    return cfg


def _job_label() -> str:
    """A multirun job's number and overrides (``#1 planner=mcts,scorer=rm``)."""
    from hydra.core.hydra_config import HydraConfig

    job = HydraConfig.get().job
    return f"#{job.num} {job.override_dirname or '(no overrides)'}"


def _single_run() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.RUN


def _report_error(name: str, e: BaseException) -> int | None:
    """Print a user-facing error (:mod:`arm_exp.errors`, or a config Hydra cannot compose) as
    one line and return its exit status; None for anything else (a bug: its traceback is worth
    seeing)."""
    from hydra.errors import HydraException
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    if isinstance(e, ArmExpError):
        print(f"arm-exp {name}: error: {e}", file=sys.stderr)
        return e.exit_code
    if isinstance(e, MissingMandatoryValue):
        key = getattr(e, "full_key", None) or "?"
        print(f"arm-exp {name}: error: {e}\nhint: pass {key}=... on the command line",
              file=sys.stderr)  # fmt: skip
        return CONFIG_EXIT
    if isinstance(e, HydraException | OmegaConfBaseException):
        print(f"arm-exp {name}: config error: {e}", file=sys.stderr)
        return CONFIG_EXIT
    return None


def _exit_on_signal(signum: int, frame: object) -> None:
    # Raising SystemExit unwinds `finally` blocks and runs atexit handlers (JSONL flushed, managed
    # servers stopped, so an interrupted stage resumes); the default SIGTERM action would not.
    raise SystemExit(128 + signum)


def run_command(stage: Stage) -> None:
    """The command of ``stage``: check its config, then ``hydra.main`` around its ``run``.

    - a bad override or a wrong value anywhere in the composed config (the command line, an
      experiment or a group file) exits with status 2 and one line per problem that names the
      key, the value, the expected type and where it was set
      (:func:`arm_exp.config_check.check_overrides`), before anything is loaded;
    - the errors that are the user's to fix (:mod:`arm_exp.errors`) exit with their class's
      status and one line that names the key or the file;
    - SIGTERM and SIGINT end the stage through a normal interpreter exit (one "stopped" line);
    - a stage that reads ``benchmark`` and whose input names one runs on it unless
      ``benchmark=`` is given (:func:`benchmark_of_input`);
    - a run that fails before it made anything removes the run dir Hydra made for it (a failed
      config run leaves no empty dir behind); one that made records keeps them, to resume; a
      pipeline whose stage failed keeps its ``pipeline.log``, which says which and where;
    - at the end it prints ``stage.show(cfg, metrics)`` (default: the metrics) and
      ``-> <run dir>``, under a ``== <stage> job #<n> <overrides> ==`` line in a sweep, also
      into ``<stage>.log``, and returns the sweep's optimized metric (``optimized_metric``) to a
      sweeper.
    """
    import hydra

    from arm_exp.config import CONF_DIR
    from arm_exp.config_check import check_overrides
    from arm_exp.errors import ConfigError
    from arm_exp.sweeps import check_plugins

    name = stage.command
    overrides = sys.argv[1:]
    try:
        check_overrides(stage, overrides)
        check_plugins(overrides, CONF_DIR)
    except ConfigError as e:
        print(f"arm-exp {name}: config error: {e}", file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # Hydra would print our errors with a stack trace; let them reach us and print the message.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    app = hydra.main(config_path=CONF_DIR, config_name=stage.name, version_base="1.3")(
        lambda cfg: _task(stage, cfg)
    )
    try:
        app()
    except KeyboardInterrupt:
        print(f"arm-exp {name}: stopped", file=sys.stderr)
        raise SystemExit(SIGINT_EXIT) from None
    except Exception as e:
        code = _report_error(name, e)
        if code is None:
            raise
        raise SystemExit(code) from None


def _task(stage: Stage, cfg: Any) -> float | None:
    """One run (one job of a sweep) of ``stage`` on ``cfg``."""
    from arm_exp.config import sweep_value
    from arm_exp.errors import StageFailed
    from arm_exp.stages.record import run_dir, summary

    name = stage.command
    out = run_dir(cfg)
    log_name = f"{cfg.get('stage') or stage.name}.log"
    fresh = _unclaimed(out, log_name)
    try:
        if stage.reads is not None and "benchmark" in stage.reads:
            cfg = benchmark_of_input(cfg, stage.name)
        metrics = stage.run(cfg)
    except Exception as e:
        _to_log_file(f"arm-exp {name}: error: {e}", logging.ERROR)
        # A pipeline whose stage failed keeps its log: it names the stage's log and command.
        if fresh and _unclaimed(out, log_name) and not isinstance(e, StageFailed):
            shutil.rmtree(out, ignore_errors=True)
        if _single_run():
            # Exit here: past this point Hydra would first print "Error executing job
            # with overrides: [...]" (useful in a sweep, where it names the job).
            code = _report_error(name, e)
            if code is not None:
                raise SystemExit(code) from None
        raise
    text = stage.show(cfg, metrics) if stage.show is not None else summary(metrics)
    if not _single_run():
        # A sweep's jobs print one after another (or interleaved, under joblib): each
        # block says which job it is.
        echo(f"== {name} job {_job_label()} ==")
    if text:
        echo(text)
    echo(f"-> {out}")
    return sweep_value(cfg, metrics)
