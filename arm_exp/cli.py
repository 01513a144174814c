"""``arm-exp <stage> [hydra overrides]``: one Hydra app per stage.

Each stage is its own entry point, ``python -m arm_exp.stages.<stage>``: a ``hydra.main`` over
its own primary config (``conf/<stage>.yaml``), built by :func:`stage_main`. ``arm-exp <stage>``
only replaces itself with that command, so what runs (and what Lightning's DDP launcher
re-runs in each worker) is the stage's own command line.

``arm-exp --help`` lists the stages; ``arm-exp <stage> --help`` shows that stage's Hydra help.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# stage name -> (module under arm_exp.stages, one-line description)
STAGES: dict[str, tuple[str, str]] = {
    "goals": ("goals", "synthesize new task goals (WebShop, ARMAP) -> goals.jsonl"),
    "explore": ("explore", "run an explorer on a benchmark split -> trajectories.jsonl"),
    "synthesize": (
        "synthesize",
        "label trajectories with intents, synthesize negatives -> triplets.jsonl",
    ),
    "train": ("train", "train the reward model on triplets -> checkpoints/best.ckpt"),
    "plan": ("plan", "plan with a policy, a planner and a scorer -> episodes.jsonl, metrics.json"),
    "report": ("report", "tables and plots from plan runs -> report.csv, report.md, *.png"),
    "pipeline": ("pipeline", "explore -> synthesize -> train -> plan -> report, each stage cached"),
    "serve-rm": ("serve_rm", "serve the reward model over HTTP (POST /score), batching requests"),
    "serve-llm": ("serve_llm", "serve an LLM backend over an OpenAI-compatible HTTP API"),
}


def _usage() -> str:
    width = max(len(s) for s in STAGES)
    lines = [
        "usage: arm-exp <stage> [hydra overrides]   (arm-exp <stage> --help for its config groups)",
        "",
        "stages:",
        *(f"  {name:<{width}}  {desc}" for name, (_, desc) in STAGES.items()),
        "",
        "common overrides: benchmark=... split=... limit=N seed=... hydra.run.dir=DIR",
        "                  input_dir=DIR (upstream run dir)  rm_ckpt=PATH  llm=...",
        "a sweep: arm-exp <stage> -m key=a,b ...   (launcher=joblib|submitit_slurm|...)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``arm-exp <stage> ...`` -> ``python -m arm_exp.stages.<module> ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return
    stage, overrides = argv[0], argv[1:]
    if stage not in STAGES:
        print(f"arm-exp: unknown stage {stage!r}\n\n{_usage()}", file=sys.stderr)
        raise SystemExit(2)
    sys.stdout.flush()
    module = f"arm_exp.stages.{STAGES[stage][0]}"
    os.execv(sys.executable, [sys.executable, "-m", module, *overrides])


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
    benchmark it was made on (:func:`arm_exp.stages.run.upstream_label`) runs on that benchmark,
    recomposed as if ``benchmark=<it>`` had been given, unless ``benchmark=`` or ``experiment=``
    is on the command line: then the stage refuses a mismatch, as before. Returns ``cfg``
    unchanged when nothing is to adopt.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    from arm_exp.config import CONF_DIR, compose, override_root
    from arm_exp.stages.run import same_benchmark, upstream_label

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
    """Print a user-facing error (a config value, a missing or corrupt input, an unreachable
    LLM server) as one line and return its exit status; None for anything else (a bug: its
    traceback is worth seeing)."""
    from hydra.errors import HydraException
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    from arm_exp.artifacts import ArtifactError
    from arm_exp.config import ConfigError
    from arm_exp.llm.base import LLMError
    from arm_exp.stages.run import StageFailed

    if isinstance(e, ConfigError | ArtifactError | LLMError | StageFailed):
        print(f"arm-exp {name}: error: {e}", file=sys.stderr)
        return 1
    if isinstance(e, MissingMandatoryValue):
        key = getattr(e, "full_key", None) or "?"
        print(f"arm-exp {name}: error: {e}\nhint: pass {key}=... on the command line",
              file=sys.stderr)  # fmt: skip
        return 2
    if isinstance(e, HydraException | OmegaConfBaseException):
        print(f"arm-exp {name}: config error: {e}", file=sys.stderr)
        return 2
    return None


def _exit_on_signal(signum: int, frame: object) -> None:
    # Raising SystemExit unwinds `finally` blocks and runs atexit handlers (JSONL flushed, managed
    # servers stopped, so an interrupted stage resumes); the default SIGTERM action would not.
    raise SystemExit(128 + signum)


def stage_main(
    config_name: str,
    run: Callable[[Any], dict[str, float]],
    uses: Iterable[str] | None,
    show: Callable[[Any, dict[str, float]], str] | None = None,
) -> Callable[[], None]:
    """The entry point of a stage: check the command line, then ``hydra.main`` around ``run``.

    - a bad override exits with status 2 and one message with a hint
      (:func:`arm_exp.config_check.check_overrides`), before anything is loaded;
    - errors that are the user's to fix (a config value, a missing or corrupt input, an
      unreachable LLM server) exit with status 1 and one line that names the key or the file;
    - SIGTERM and SIGINT end the stage through a normal interpreter exit (one "stopped" line);
    - a stage that reads ``benchmark`` and whose input names one runs on it unless
      ``benchmark=`` is given (:func:`benchmark_of_input`);
    - a run that fails before it made anything removes the run dir Hydra made for it (a failed
      config run leaves no empty dir behind); one that made records keeps them, to resume; a
      pipeline whose stage failed keeps its ``pipeline.log``, which says which and where;
    - at the end it prints ``show(cfg, metrics)`` (default: the metrics) and ``-> <run dir>``,
      under a ``== <stage> job #<n> <overrides> ==`` line in a sweep, also into ``<stage>.log``, and returns the sweep's optimized metric
      (``optimized_metric``) to a sweeper.
    """
    name = config_name.replace("_", "-")

    def task(cfg: Any) -> float | None:
        from arm_exp.config import sweep_value
        from arm_exp.stages.run import StageFailed, run_dir, summary

        out = run_dir(cfg)
        log_name = f"{cfg.get('stage') or config_name}.log"
        fresh = _unclaimed(out, log_name)
        try:
            if uses is not None and "benchmark" in uses:
                cfg = benchmark_of_input(cfg, config_name)
            metrics = run(cfg)
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
        text = show(cfg, metrics) if show is not None else summary(metrics)
        if not _single_run():
            # A sweep's jobs print one after another (or interleaved, under joblib): each
            # block says which job it is.
            echo(f"== {name} job {_job_label()} ==")
        if text:
            echo(text)
        echo(f"-> {out}")
        return sweep_value(cfg, metrics)

    def entry() -> None:
        import hydra

        from arm_exp.config import CONF_DIR, ConfigError
        from arm_exp.config_check import check_overrides
        from arm_exp.sweeps import PluginMissing, check_plugins

        overrides = sys.argv[1:]
        try:
            check_overrides(config_name, overrides, uses)
            check_plugins(overrides, CONF_DIR)
        except (ConfigError, PluginMissing) as e:
            print(f"arm-exp {name}: config error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        signal.signal(signal.SIGTERM, _exit_on_signal)
        # Hydra would print our errors with a stack trace; let them reach us and print the message.
        os.environ.setdefault("HYDRA_FULL_ERROR", "1")
        app = hydra.main(config_path=CONF_DIR, config_name=config_name, version_base="1.3")(task)
        try:
            app()
        except KeyboardInterrupt:
            print(f"arm-exp {name}: stopped", file=sys.stderr)
            raise SystemExit(130) from None
        except Exception as e:
            code = _report_error(name, e)
            if code is None:
                raise
            raise SystemExit(code) from None

    return entry


if __name__ == "__main__":
    main()
