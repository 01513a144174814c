"""``arm-exp <stage> [hydra overrides]``: one Hydra app per stage.

``arm-exp --help`` lists the stages; ``arm-exp <stage> --help`` shows that stage's Hydra help
(config groups and options). SIGTERM and SIGINT become a normal interpreter exit, so JSONL
artifacts are flushed, managed servers are stopped and an interrupted stage can resume.

The command line is checked before the stage is imported (:mod:`arm_exp.config_check`): a bad
group option, key or value type exits with status 2 and a hint. Errors that are the user's to fix
(a config value, a missing or corrupt input, an unreachable LLM server) print one message that
names the key or the file, not a stack trace.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

STAGE_ENV = "ARM_EXP_STAGE"

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
    ]
    return "\n".join(lines)


def _exit_on_signal(signum: int, frame: object) -> None:
    # Raising SystemExit unwinds `finally` blocks and runs atexit handlers; the default SIGTERM
    # action would kill the process without either.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    inherited = os.environ.get(STAGE_ENV)
    relaunched = os.environ.get("LOCAL_RANK", "0") != "0"  # set by Lightning for workers 1..n-1
    if relaunched and inherited in STAGES and (not argv or argv[0] not in STAGES):
        # Lightning's DDP launcher re-runs `sys.argv` in each worker process; the stage name
        # is not in it (Hydra must not see it), so it travels in the environment.
        stage, overrides = inherited, argv
    elif not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return
    else:
        stage, overrides = argv[0], argv[1:]
    if stage not in STAGES:
        print(f"arm-exp: unknown stage {stage!r}\n\n{_usage()}", file=sys.stderr)
        raise SystemExit(2)
    from arm_exp.artifacts import ArtifactError
    from arm_exp.config_check import check_overrides
    from arm_exp.llm.base import LLMError
    from arm_exp.stages.common import ConfigError

    if not relaunched:
        try:
            check_overrides(STAGES[stage][0], overrides)
        except ConfigError as e:
            print(f"arm-exp {stage}: config error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
    module = importlib.import_module(f"arm_exp.stages.{STAGES[stage][0]}")
    from arm_exp.stages.common import CONF_DIR
    from arm_exp.sweeps import PluginMissing, check_plugins

    try:
        check_plugins(overrides, CONF_DIR)
    except PluginMissing as e:
        print(f"arm-exp {stage}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    signal.signal(signal.SIGTERM, _exit_on_signal)
    os.environ[STAGE_ENV] = stage
    sys.argv = [sys.argv[0], *overrides]
    # Hydra would print our errors with a stack trace; let them reach us and print the message.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        module.main()
    except (ConfigError, ArtifactError, LLMError) as e:
        print(f"arm-exp {stage}: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as e:
        from omegaconf.errors import MissingMandatoryValue

        if not isinstance(e, MissingMandatoryValue):
            raise
        key = getattr(e, "full_key", None) or "?"
        print(
            f"arm-exp {stage}: error: {e}\nhint: pass {key}=... on the command line",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
