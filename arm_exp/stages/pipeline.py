"""``arm-exp pipeline``: (goals ->) explore -> synthesize -> train -> plan (one or several) -> report.

The pipeline composes the same config as every stage (``conf/base.yaml``), so any group or key
works on its command line (``benchmark=webshop loss=hinge planner=mcts planner.n=16``) and in a
sweep (``-m``). Each stage runs in its own process (``python -m arm_exp.stages.<stage>``, so a
GPU stage's memory is freed before the next starts) with the pipeline's command-line overrides
that it reads (its declaration's ``reads``, :mod:`arm_exp.stages`) plus what the pipeline decides for it: its tasks
(``pipeline.explore`` / ``pipeline.plan``, or the pipeline-wide ``limit``), its inputs, the W&B
group. Experiment files (``experiment=armap``) and ``debug=`` reach every stage.

Before running a stage the pipeline composes its config in-process and computes its content key
(its declaration's ``key_spec``); the stage's run dir is ``<pipeline.cache_dir>/<stage>/<key>``, so a
stage whose own config and inputs are unchanged is reused (a sweep over planners trains each
reward model once) and an interrupted stage resumes in place. Jobs that need the same stage at
the same time (a joblib, submitit or SLURM-array sweep sharing the cache) take a lock per stage
key: one runs it, the others wait and reuse it (the wait, idle time on a job's GPU, is its
``pipeline/lock_wait_s``); a lock whose holder died is taken over and the stage resumes.
Explore, synthesize and train run only if a plan run reads the reward model.

In a sweep (``-m``) the jobs need not wait: the sweeper ``hydra_plugins.arm_exp_waves`` (the
default, ``conf/hydra/default.yaml``) finds each job's stages that the cache lacks
(:func:`pending_upstream`) and first runs each shared one once, in jobs with
``pipeline.until=<stage>`` (the stages up to it, no plan, no report), then launches the jobs.

``pipeline.plans`` compares several planners in one job (the demo): one plan run per list of
overrides, each applied after the command line's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from arm_exp import stages as registry
from arm_exp.artifacts import atomic_write_json, is_complete, load_manifest, read_json
from arm_exp.config import ArmExpConfig, compose, override_root
from arm_exp.errors import CONFIG_EXIT, ConfigError, StageFailed
from arm_exp.stages.base import LAUNCH, SHARED, KeySpec, Stage
from arm_exp.stages.lifecycle import echo
from arm_exp.stages.record import StageRecord, code_check
from arm_exp.tracking import run_group

log = logging.getLogger(__name__)


# Keys the pipeline decides for each stage itself (its tasks, its inputs).
SET_BY_PIPELINE = frozenset({"split", "limit", "task_ids", "input_dir", "input_dirs", "rm_ckpt"})


def forwarded(stage: str, overrides: list[str]) -> list[str]:
    """The command-line overrides that ``stage`` reads (its declaration's ``reads`` and the
    keys every stage shares: experiment, debug, seed, paths, logger, ...), in order."""
    reads = set(registry.get(stage).reads or ()) | SHARED
    out = []
    for o in overrides:
        root = override_root(o.partition("=")[0])
        if root in reads and root not in SET_BY_PIPELINE:
            out.append(o)
    return out


def quote(value: str) -> str:
    """``value`` as a quoted Hydra override value (any characters, read back verbatim)."""
    # Hydra reads a backslash literally unless it precedes a quote (or ends the string).
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    trailing = len(escaped) - len(escaped.rstrip("\\"))
    return "'" + escaped + "\\" * trailing + "'"


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


@contextmanager
def stage_lock(path: Path, lease_s: float | None, label: str) -> Iterator[float]:
    """Hold the lock of one stage key while checking for and running it; yields the seconds
    spent waiting for another job to release it (0.0 when it was free): the time a sweep's
    job sat idle on its GPU because another job was running a stage both need.

    ``filelock.FileLock`` is a kernel lock (``flock``): it dies with its holder, so a killed
    job never blocks the others. ``lease_s`` switches to ``filelock.SoftFileLease`` (a marker
    file refreshed by a heartbeat; a peer takes it over once it is ``lease_s`` old or its holder
    is dead on this host) for shared file systems whose flock does not work. Who holds a lock
    is recorded beside it, so a waiting job says whom it waits for.
    """
    from filelock import FileLock, SoftFileLease, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path)) if lease_s is None else SoftFileLease(path, lease_duration=lease_s)
    holder = path.with_name(path.name + ".holder")
    waited = 0.0
    try:
        lock.acquire(timeout=0)
    except Timeout:
        who = read_json(holder) if holder.exists() else {}
        echo(
            f"[pipeline] {label}: waiting for {who.get('host', '?')}:{who.get('pid', '?')} "
            f"(running it since {who.get('since', '?')})"
        )
        started = time.perf_counter()
        lock.acquire()
        waited = time.perf_counter() - started
    try:
        atomic_write_json(
            holder,
            {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%H:%M:%S")},
        )
        yield waited
    finally:
        lock.release()


class SubStages:
    """Runs stages as cached subprocesses in ``cache_dir`` and remembers what it did."""

    def __init__(
        self, cache_dir: Path, base: list[str], lease_s: float | None, reuse_code: bool = False
    ) -> None:
        self.cache_dir = cache_dir
        self.base = base  # for every stage: W&B group and run name
        self.lease_s = lease_s
        self.reuse_code = reuse_code  # reuse_across_code_change
        self.record: list[dict[str, Any]] = []

    def config(self, stage: str, overrides: list[str]) -> DictConfig:
        """The stage's composed config (not installed as Hydra's global one)."""
        return compose(stage, [*self.base, *overrides], set_hydra_config=False)

    def keyed(self, stage: str, overrides: list[str]) -> tuple[str, Path]:
        """The content key of ``stage`` with ``overrides`` and its run dir in the cache (its
        inputs must exist: their keys are part of it)."""
        cfg = compose(stage, [*self.base, *overrides], set_hydra_config=False)
        key = registry.get(stage).key_spec(cfg).key(cfg)
        return key, self.cache_dir / stage / key

    def reusable(self, out: Path, key: str) -> bool:
        """Whether ``out`` holds a complete run with ``key`` that this code may reuse."""
        return is_complete(out, key) and code_check(load_manifest(out), out, self.reuse_code)

    def ensure(self, stage: str, overrides: list[str]) -> Path:
        """The run dir of ``stage`` with ``overrides``: reused when complete, else run now."""
        key, out = self.keyed(stage, overrides)
        entry: dict[str, Any] = {"stage": stage, "dir": str(out), "key": key, "lock_wait_s": 0.0}
        # A complete run is final (its manifest is written last, atomically): reusing it needs
        # no lock, so jobs that share a finished stage never queue on its lock to find it.
        if self.reusable(out, key):
            return self._reused(entry)
        with stage_lock(self.cache_dir / stage / f".{key}.lock", self.lease_s, stage) as waited:
            entry["lock_wait_s"] = waited
            if self.reusable(out, key):  # made by the job this one waited for
                return self._reused(entry)
            module = registry.module_name(stage)
            cmd = [sys.executable, "-m", module, *self.base, *overrides, f"hydra.run.dir={out}"]
            echo(f"[pipeline] {stage}: running -> {out}")
            log.info("pipeline: %s", " ".join(cmd))
            started = time.perf_counter()
            returncode, peak_rss_mb = run_measured(cmd)
            wall = time.perf_counter() - started
            if returncode != 0:
                stage_log = out / f"{stage}.log"
                where = f"its log is {stage_log}" if stage_log.exists() else "its error is above"
                failed = StageFailed(
                    f"pipeline: stage {stage} failed with exit code {returncode}; {where} "
                    f"(command: {' '.join(cmd)})"
                )
                if returncode == CONFIG_EXIT:  # it refused its config or data: so does the job
                    failed.exit_code = CONFIG_EXIT
                raise failed
            if not is_complete(out, key):
                got = load_manifest(out).get("key") if (out / "manifest.json").exists() else None
                raise StageFailed(
                    f"pipeline: {stage} in {out} finished with key {got}, expected {key}"
                )
        self.record.append({**entry, "reused": False, "wall_s": wall, "peak_rss_mb": peak_rss_mb,
                            "git_sha": load_manifest(out).get("git_sha")})  # fmt: skip
        return out

    def _reused(self, entry: dict[str, Any]) -> Path:
        # its commit: a reused run's may be older than this pipeline's, said, not hidden
        out = Path(entry["dir"])
        sha = load_manifest(out).get("git_sha")
        echo(f"[pipeline] {entry['stage']}: reused {out} (made at {sha})")
        self.record.append({**entry, "reused": True, "wall_s": 0.0, "git_sha": sha})
        return out

    def reads_rm(self, per_stage: dict[str, list[list[str]]]) -> list[bool]:
        """For each plan run of ``per_stage``: whether it reads the reward model."""
        reads_checkpoint = registry.get("plan").reads_checkpoint
        assert reads_checkpoint is not None
        return [reads_checkpoint(self.config("plan", ov)) for ov in per_stage["plan"]]


# The stages that make the reward model, in order (goals only with pipeline.goals).
UPSTREAM = ("goals", "explore", "synthesize", "train")


def upstream(
    per_stage: dict[str, list[list[str]]], step: Callable[[str, list[str]], Path], until: str
) -> Path:
    """Run the reward model's stages through ``step(stage, overrides) -> its run dir``, each
    given the one before it as input, up to ``until``; the last one's run dir."""
    previous: Path | None = None
    for stage in UPSTREAM:
        if stage not in per_stage:
            continue
        overrides = list(per_stage[stage][0])
        if previous is not None:
            given = f"benchmark.env.goals_file={previous / 'goals.jsonl'}"
            overrides.append(given if stage == "explore" else f"input_dir={previous}")
        previous = step(stage, overrides)
        if stage == until:
            break
    assert previous is not None
    return previous


def pending_upstream(cfg: DictConfig, overrides: list[str]) -> list[tuple[str, str]]:
    """The reward model's stages a pipeline job (its config and command-line ``overrides``)
    would run because the cache lacks them, in order: ``(stage, node)``, where ``node`` names
    that stage's run and everything upstream of it, so two jobs with the same node need the
    same run. Computed before any of them exists: a stage whose input is missing is named by
    its own key parts and its input's node instead of its input's key. Empty when no plan run
    of the job reads the reward model or the cache holds it all (what a sweeper needs to run
    each shared stage once before the jobs that share it: ``hydra_plugins.arm_exp_waves``)."""
    subs = SubStages(
        Path(str(cfg.pipeline.cache_dir)), [], None, bool(cfg.reuse_across_code_change)
    )
    per_stage = stage_overrides(cfg, overrides)
    if not any(subs.reads_rm(per_stage)):
        return []
    pending: list[tuple[str, str]] = []
    missing = subs.cache_dir / ".pending"  # never made: stands for a run not made yet

    def step(stage: str, ov: list[str]) -> Path:
        if not pending:  # every input exists: the stage's own key
            key, out = subs.keyed(stage, ov)
            if subs.reusable(out, key):
                return out
        else:  # its input is the pending stage before it: named by that one's node
            decl = registry.get(stage)
            stage_cfg = subs.config(stage, ov)
            extra = decl.key_extra(stage_cfg) if decl.key_extra is not None else {}
            spec = KeySpec(decl.key, {}, {**extra, "upstream": pending[-1][1]}, decl.key_exclude)
            key = spec.key(stage_cfg)
        pending.append((stage, key))
        return missing / key

    upstream(per_stage, step, until="train")
    return pending


def _tasks(cfg: DictConfig, stage: str) -> list[str]:
    """The split and limit the pipeline gives a benchmark stage (``limit`` on the pipeline's
    command line wins over ``pipeline.<stage>.limit``: a smoke run of any experiment)."""
    node = cfg.pipeline.get(stage)
    out = []
    if node is not None and node.split is not None:
        out.append(f"split={node.split}")
    limit = cfg.limit if cfg.limit is not None else (node.limit if node is not None else None)
    out.append(f"limit={'null' if limit is None else int(limit)}")
    return out


def stage_overrides(cfg: DictConfig, overrides: list[str]) -> dict[str, list[list[str]]]:
    """Each stage's overrides (without its inputs) for the pipeline's command line
    ``overrides``: one list per stage, one per entry of ``pipeline.plans`` for ``plan``;
    ``goals`` only with ``pipeline.goals``."""
    plan_base = [*forwarded("plan", overrides), *_tasks(cfg, "plan")]
    specs = [[str(o) for o in spec] for spec in cfg.pipeline.plans] or [[]]
    given = {override_root(o.partition("=")[0]) for o in forwarded("plan", overrides)}
    for spec in specs:
        clash = given & {override_root(o.partition("=")[0]) for o in spec}
        if clash:
            log.warning("pipeline.plans sets %s for its plan runs over the command line", clash)
    explore_tasks = _tasks(cfg, "explore")
    out = {
        "explore": [[*forwarded("explore", overrides), *explore_tasks]],
        "synthesize": [[*forwarded("synthesize", overrides), "limit=null"]],
        "train": [forwarded("train", overrides)],
        "plan": [[*plan_base, *spec] for spec in specs],
        "report": [forwarded("report", overrides)],
    }
    if cfg.pipeline.goals:
        out["goals"] = [forwarded("goals", overrides)]
        out["explore"][0].append("split=extra")
    return out


def stage_configs(cfg: DictConfig, overrides: list[str]) -> dict[str, Any]:
    """Each stage's composed config for the pipeline's command line, before any input exists
    (``plan``: a list, one per entry of ``pipeline.plans``): what the memory plan reads."""
    per_stage = stage_overrides(cfg, overrides)
    out: dict[str, Any] = {
        stage: compose(stage, ov[0], set_hydra_config=False)
        for stage, ov in per_stage.items()
        if stage != "plan"
    }
    out["plan"] = [compose("plan", ov, set_hydra_config=False) for ov in per_stage["plan"]]
    return out


def check_stages(cfg: DictConfig, overrides: list[str]) -> None:
    """Compose each stage's config as the pipeline will run it and check every value against
    what it instantiates (:func:`arm_exp.config_check.check_job`), before the first stage
    runs: a wrong type in ``pipeline.plans`` fails now, not after training."""
    from arm_exp.config_check import check_job

    for stage, runs in stage_overrides(cfg, overrides).items():
        for ov in runs:
            check_job(registry.get(stage), ov, set_hydra_config=False)


def memory_plan(cfg: DictConfig, overrides: list[str]) -> None:
    """On a GPU, print each stage's estimated GPU memory and refuse a job that cannot fit
    (:mod:`arm_exp.memory_plan`), before the first stage runs."""
    from arm_exp import memory_plan as mp

    gpu_gib = mp.gpu_memory_gib()
    if gpu_gib is None:
        return
    try:
        for line in mp.check(mp.plan_job(stage_configs(cfg, overrides), gpu_gib), gpu_gib):
            echo(f"[pipeline] memory plan: {line}")
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _check(cfg: DictConfig) -> None:
    for key, hint in [
        ("split", "pipeline.explore.split=... / pipeline.plan.split=..."),
        ("task_ids", "pipeline.plan.limit=N"),
        ("input_dir", "the pipeline makes its inputs; run the stage alone to pass one"),
        ("rm_ckpt", "the pipeline trains its reward model; `arm-exp plan rm_ckpt=...` plans alone"),
    ]:
        if cfg.get(key):
            raise ConfigError(f"{key}={cfg.get(key)} is not a pipeline key: {hint}")
    until = cfg.pipeline.until
    if until is not None and until not in UPSTREAM:
        raise ConfigError(f"pipeline.until={until}: expected one of {', '.join(UPSTREAM)}")


def run(cfg: DictConfig) -> dict[str, float]:
    _check(cfg)
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    check_stages(cfg, overrides)
    stage = StageRecord(cfg, STAGE)
    if stage.done:
        return stage.previous_metrics()
    # Each stage's W&B run is named by its own values (a train run that two jobs share is not
    # one job's); the group is the pipeline's.
    base = [f"++wandb_group={quote(run_group(cfg))}"]
    subs = SubStages(
        Path(str(cfg.pipeline.cache_dir)),
        base,
        cfg.pipeline.lock_lease_s,
        bool(cfg.reuse_across_code_change),
    )

    memory_plan(cfg, overrides)
    per_stage = stage_overrides(cfg, overrides)
    needs_rm = subs.reads_rm(per_stage)
    until = cfg.pipeline.until
    if until is not None:  # a sweep's first waves: the shared stages only (see the docstring)
        if any(needs_rm):
            upstream(per_stage, subs.ensure, until)
        return finish(stage, subs, None)
    ckpt: Path | None = None
    if any(needs_rm):
        ckpt = upstream(per_stage, subs.ensure, "train") / "checkpoints" / "best.ckpt"
    planned = [
        subs.ensure("plan", [*ov, *([f"rm_ckpt={ckpt}"] if uses else [])])
        for ov, uses in zip(per_stage["plan"], needs_rm, strict=True)
    ]
    dirs = ",".join(f"'{d}'" for d in planned)
    reported = subs.ensure(
        "report", [*per_stage["report"][0], f"input_dirs=[{dirs}]", "report.show=false"]
    )
    for name in registry.get("report").artifacts:
        if (reported / name).exists():
            shutil.copy2(reported / name, stage.dir / name)
    return finish(stage, subs, reported)


def finish(stage: StageRecord, subs: SubStages, reported: Path | None) -> dict[str, float]:
    """Record the stages the pipeline used and its metrics (with the report's, if it made one)."""
    stage.count(stages=subs.record, reused=sum(r["reused"] for r in subs.record))
    for entry in subs.record:  # an edit to any stage's code makes this result stale too
        stage.record_code(load_manifest(entry["dir"]).get("code", {}))
    metrics = {
        "pipeline/stages": float(len(subs.record)),
        "pipeline/reused": float(sum(r["reused"] for r in subs.record)),
        "pipeline/wall_s": float(sum(r["wall_s"] for r in subs.record)),
        "pipeline/peak_rss_mb": max((r.get("peak_rss_mb", 0.0) for r in subs.record), default=0.0),
        # idle: waiting for another job to finish a stage this one needs
        "pipeline/lock_wait_s": float(sum(r["lock_wait_s"] for r in subs.record)),
        **(load_manifest(reported).get("metrics", {}) if reported is not None else {}),
    }
    return stage.finish(metrics, tables={"pipeline/stages": stages_table(subs.record)})


STAGE_COLUMNS = [
    "stage",
    "reused",
    "key",
    "dir",
    "wall_s",
    "lock_wait_s",
    "wandb_run",
    "git_sha",
    "metrics",
]


def stages_table(record: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The pipeline's stages as a tracker table, one row per stage run it used, reused ones too
    (a reused run reaches W&B here: its key, dir, the W&B run that made it and its metrics)."""
    rows = []
    for entry in record:
        m = load_manifest(entry["dir"])
        rows.append(
            [entry["stage"], entry["reused"], entry["key"], entry["dir"], entry["wall_s"],
             entry.get("lock_wait_s", 0.0), (m.get("wandb") or {}).get("name"), m.get("git_sha"),
             json.dumps(m.get("metrics", {}), sort_keys=True)]
        )  # fmt: skip
    return STAGE_COLUMNS, rows


def show(cfg: DictConfig, metrics: dict[str, float]) -> str:
    """The report: its table and the paper-shaped pivot."""
    from arm_exp.stages.record import run_dir

    out = run_dir(cfg)
    tables = [n for n in registry.get("report").artifacts if n.endswith(".md")]
    return "\n".join((out / name).read_text() for name in tables if (out / name).exists())


# Its result depends on every key but where files go and how it is launched.
UNKEYED = {
    "paths": "where files go",
    "logger": "where metrics are sent",
    "reuse_across_code_change": "whether a run made by other code is reused",
    **{k: "how this run is launched" for k in LAUNCH - {"optimized_metric"}},
}
STAGE = Stage(
    name="pipeline",
    run=run,
    reads=None,  # every key: what its stages read
    key=tuple(f.name for f in dataclasses.fields(ArmExpConfig) if f.name not in UNKEYED),
    unkeyed=UNKEYED,
    artifacts=("report.csv", "report.md"),
    show=show,
)

if __name__ == "__main__":
    STAGE.main()
