"""``arm-exp pipeline``: explore -> synthesize -> train -> plan (several) -> report, cached.

Each stage runs in its own subprocess (``python -m arm_exp.cli <stage> ...``), so a GPU stage's
memory (vLLM, Lightning) is freed before the next one starts. Before running a stage the
pipeline composes that stage's config in-process with the same overrides and computes its
content key (the stage's own ``key_spec``); the stage's run dir is
``<pipeline.cache_dir>/<stage>/<key>``, so a stage whose config and inputs are unchanged is reused
instead of recomputed (a sweep over planners trains each reward model once), and an interrupted
stage resumes in place.

What each stage gets is spelled out in ``pipeline.*`` (usually set by an experiment file such
as ``experiment=demo_game24``): ``common`` overrides for every stage, then ``explore``,
``synthesize``, ``train``, ``plan_common`` and one override list per entry of ``plans``;
``pipeline.extra.<stage>`` is appended after them (``debug=cpu_smoke`` shrinks a run that way),
then the pipeline-wide ``llm=NAME`` (every LLM role) and ``limit=N`` (explore and plan). The
pipeline's logger choice and W&B group (``wandb_group``, else the experiment's name) are passed
to every stage, so each stage is a W&B run of the experiment's group.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from arm_exp.artifacts import is_complete, load_manifest
from arm_exp.stages.common import (
    CONF_DIR,
    ConfigError,
    KeySpec,
    StageRun,
    choice,
    compose,
    objective,
    run_group,
)

log = logging.getLogger(__name__)

CLI_NAMES = {
    "explore": "explore",
    "synthesize": "synthesize",
    "train": "train",
    "plan": "plan",
    "report": "report",
}


class SubStages:
    """Runs stages as cached subprocesses and remembers what it did."""

    def __init__(self, cache_dir: Path, base: list[str], common: list[str]) -> None:
        self.cache_dir = cache_dir
        self.base = base  # for every stage (seed, paths)
        self.common = common  # for the benchmark stages (not report)
        self.record: list[dict[str, Any]] = []

    def key(self, stage: str, overrides: list[str]) -> str:
        module = importlib.import_module(f"arm_exp.stages.{stage}")
        saved = HydraConfig.instance().cfg  # compose() replaces the global Hydra config
        try:
            cfg = compose(stage, overrides, self.cache_dir / ".compose")
            return module.key_spec(cfg).key(cfg)
        finally:
            HydraConfig.instance().cfg = saved

    def run(self, stage: str, overrides: list[str], common: bool = True) -> Path:
        overrides = [*self.base, *(self.common if common else []), *overrides]
        key = self.key(stage, overrides)
        out = self.cache_dir / stage / key
        entry: dict[str, Any] = {
            "stage": stage,
            "dir": str(out),
            "key": key,
            "overrides": overrides,
        }
        if is_complete(out, key):
            log.info("pipeline: %s reused from %s", stage, out)
            print(f"[pipeline] {stage}: reused {out}", flush=True)
            self.record.append({**entry, "reused": True, "wall_s": 0.0})
            return out
        print(f"[pipeline] {stage}: running -> {out}", flush=True)
        cmd = [
            sys.executable,
            "-m",
            "arm_exp.cli",
            CLI_NAMES[stage],
            *overrides,
            f"hydra.run.dir={out}",
        ]
        started = time.perf_counter()
        returncode, peak_rss_mb = run_measured(cmd)
        wall = time.perf_counter() - started
        if returncode != 0:
            raise RuntimeError(
                f"pipeline: stage {stage} failed with exit code {returncode}; its log is "
                f"{out / (stage + '.log')} (command: {' '.join(cmd)})"
            )
        if not is_complete(out, key):
            got = load_manifest(out).get("key") if (out / "manifest.json").exists() else None
            raise RuntimeError(
                f"pipeline: {stage} in {out} finished with key {got}, expected {key}"
            )
        self.record.append({**entry, "reused": False, "wall_s": wall, "peak_rss_mb": peak_rss_mb})
        return out


def run_measured(cmd: list[str]) -> tuple[int, float]:
    """Run ``cmd``; return its exit code and its peak resident set size in MiB.

    ``os.wait4`` gives the rusage of that one child (``RUSAGE_CHILDREN`` would be the maximum
    over every child so far), so each stage's peak memory is its own. Linux records the address
    space a process had before ``exec`` (here the pipeline's own, shared through ``vfork``), so
    the figure is never below the pipeline process's peak RSS at that moment (~0.4 GiB).
    """
    proc = subprocess.Popen(cmd)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # Ctrl-C: do not leave the stage running
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    kib = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    return proc.returncode, kib / 1024


def _list(node: Any) -> list[str]:
    return [str(x) for x in (node or [])]


# The stages that take `llm=` / `limit=` (train and report have no LLM and no task list).
LLM_STAGES = ("explore", "synthesize", "plan")
TASK_STAGES = ("explore", "plan")


def stage_overrides(cfg: DictConfig) -> dict[str, list[list[str]]]:
    """Each stage's overrides (without its inputs): one list per stage, one per plan for ``plan``.

    The order is the experiment's lists (``pipeline.common``, then the stage's own), then
    ``pipeline.extra.<stage>``, then the pipeline-wide knobs ``llm`` and ``limit``, so a command
    line such as ``llm=smollm2_cpu limit=2`` wins over the experiment.
    """
    p = cfg.pipeline
    if not p.get("plans"):
        raise ConfigError(
            "pipeline.plans is empty: list at least one [planner=..., scorer=...] entry"
        )
    common = _list(p.common)
    extra = p.get("extra") or {}

    llm = choice("llm") if cfg.get("llm") is not None else None

    def knobs(stage: str) -> list[str]:
        out = _list(extra.get(stage))
        if llm and stage in LLM_STAGES:
            out.append(f"llm={llm}")
            if stage == "synthesize":
                out.append(f"llm@synthesizer_llm={llm}")
        if cfg.get("limit") is not None and stage in TASK_STAGES:
            out.append(f"limit={cfg.limit}")
        return out

    plans = [[*common, *_list(p.plan_common), *_list(spec), *knobs("plan")] for spec in p.plans]
    return {
        "explore": [[*common, *_list(p.explore), *knobs("explore")]],
        "synthesize": [[*common, *_list(p.synthesize), *knobs("synthesize")]],
        "train": [[*common, *_list(p.train), *knobs("train")]],
        "plan": plans,
    }


def base_overrides(cfg: DictConfig) -> list[str]:
    """What every stage inherits from the pipeline: seed, paths, logger and the W&B group."""
    base = [
        f"seed={cfg.seed}",
        f"paths.root_dir={cfg.paths.root_dir}",
        f"paths.cache_dir={cfg.paths.cache_dir}",
        f"paths.log_dir={cfg.paths.log_dir}",
        f"++wandb_group={run_group(cfg)}",
    ]
    logger = choice("logger")
    if logger:
        base.append(f"logger={logger}")
    return base


def key_spec(cfg: DictConfig) -> KeySpec:
    return KeySpec(("pipeline", "seed", "llm", "limit"))


def run(cfg: DictConfig) -> dict[str, float]:
    overrides = stage_overrides(cfg)
    stage = StageRun(cfg, "pipeline", key_spec(cfg), artifacts=["report.csv", "report.md"])
    if stage.done:
        print((stage.dir / "report.md").read_text())
        return stage.previous_metrics()
    # The benchmark stages' lists already hold `pipeline.common`; report gets only the base.
    subs = SubStages(Path(str(cfg.pipeline.cache_dir)), base_overrides(cfg), [])
    explored = subs.run("explore", overrides["explore"][0])
    synthesized = subs.run("synthesize", [*overrides["synthesize"][0], f"input_dir={explored}"])
    trained = subs.run("train", [*overrides["train"][0], f"input_dir={synthesized}"])
    ckpt = trained / "checkpoints" / "best.ckpt"
    planned = [subs.run("plan", [*spec, f"rm_ckpt={ckpt}"]) for spec in overrides["plan"]]
    dirs = ",".join(f"'{d}'" for d in planned)
    reported = subs.run("report", [f"input_dirs=[{dirs}]", "input_dir=null"], common=False)
    for name in ("report.csv", "report.md", "success_vs_n.png", "planners.png"):
        if (reported / name).exists():
            shutil.copy2(reported / name, stage.dir / name)
    stage.count(stages=subs.record, reused=sum(r["reused"] for r in subs.record))
    metrics = {
        "pipeline/stages": float(len(subs.record)),
        "pipeline/reused": float(sum(r["reused"] for r in subs.record)),
        "pipeline/wall_s": float(sum(r["wall_s"] for r in subs.record)),
        "pipeline/peak_rss_mb": max((r.get("peak_rss_mb", 0.0) for r in subs.record), default=0.0),
        **{k: v for k, v in load_manifest(reported).get("metrics", {}).items()},
    }
    if subs.record[-1]["reused"]:  # a report stage that ran has printed its table already
        print((stage.dir / "report.md").read_text(), flush=True)
    return stage.finish(metrics)


@hydra.main(config_path=CONF_DIR, config_name="pipeline", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    return objective(cfg, run(cfg))
