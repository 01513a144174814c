"""``arm-exp <stage> [hydra overrides]``: dispatch to a stage's own command.

Each stage is its own entry point, ``python -m arm_exp.stages.<stage>`` (its declaration's
``main``: :mod:`arm_exp.stages.lifecycle`). ``arm-exp <stage>`` only replaces itself with that
command, so what runs (and what Lightning's DDP launcher re-runs in each worker) is the stage's
own command line. The stages are those of the registry (:mod:`arm_exp.stages`).

``arm-exp --help`` lists the stages; ``arm-exp <stage> --help`` shows that stage's Hydra help.
"""

from __future__ import annotations

import os
import sys

from arm_exp.stages import REGISTRY, module_name


def _usage() -> str:
    width = max(len(s) for s in REGISTRY)
    lines = [
        "usage: arm-exp <stage> [hydra overrides]   (arm-exp <stage> --help for its config groups)",
        "",
        "stages:",
        *(f"  {name:<{width}}  {desc}" for name, (_, desc) in REGISTRY.items()),
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
    if stage not in REGISTRY:
        print(f"arm-exp: unknown stage {stage!r}\n\n{_usage()}", file=sys.stderr)
        raise SystemExit(2)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", module_name(stage), *overrides])


if __name__ == "__main__":
    main()
