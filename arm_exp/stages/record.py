"""What every stage shares: its run dir, content key and manifest, task selection, the loop.

A stage's ``run(cfg)`` opens a :class:`StageRecord`, which

- resolves the run dir (``hydra.run.dir`` or the multirun job dir),
- computes the stage's content key from the config subtree that determines its output
  (:class:`KeySpec`) and the keys of its inputs,
- refuses to mix artifacts: a run dir that holds another config's artifacts is an error (a dir
  whose earlier run produced nothing, e.g. it failed on its input, is taken over),
- reports ``done`` when the dir already holds a complete run with the same key made by the same
  code (so re-launched sweeps and ``pipeline`` skip finished work); ``force=true`` deletes the
  stage's artifacts and recomputes,
- records the code the run depends on (:func:`loaded_sources`: the ``arm_exp`` modules its
  process loaded, the ``conf/`` files it composed, by content hash). A run dir whose recorded
  files changed since (an edit, committed or not) is not reused and not resumed: the stage's
  artifacts start afresh, since records made by other code would mix two versions in one
  artifact. ``reuse_across_code_change=true`` reuses (or resumes) it anyway, with a warning
  naming the changed files, and
- on :meth:`StageRecord.finish` writes ``metrics.json`` and the completed ``manifest.json`` and
  sends the metrics to the configured loggers.

:func:`collect` is the loop of the record-writing stages (explore, synthesize, goals, plan):
resume from the stage's JSONL, produce what is missing under a progress bar, restore the
canonical order.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from arm_exp.artifacts import (
    MANIFEST,
    METRICS,
    PACKAGE_DIR,
    Manifest,
    ResumableJsonl,
    atomic_write_json,
    changed_sources,
    checkpoint_lineage,
    input_key,
    load_manifest,
    source_hashes,
)
from arm_exp.config import CONF_DIR, override_root, resolved_config
from arm_exp.envs.base import Env
from arm_exp.errors import ArtifactError, ConfigError
from arm_exp.stages.base import COMMON, KeySpec
from arm_exp.tracking import make_loggers, run_axes, run_name, run_tags

if TYPE_CHECKING:
    from arm_exp.stages.base import Stage

log = logging.getLogger(__name__)

T = TypeVar("T")


def run_dir(cfg: DictConfig) -> Path:
    """The stage's output dir: Hydra's run/job dir, or ``paths.output_dir`` outside Hydra."""
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(cfg.paths.output_dir)


def select_tasks(env: Env, cfg: DictConfig) -> list[str]:
    """The task ids of ``cfg.split`` (or ``cfg.task_ids``), cut to the first ``cfg.limit``."""
    ids = [str(t) for t in cfg.task_ids] if cfg.get("task_ids") else env.task_ids(str(cfg.split))
    limit = cfg.get("limit")
    if limit is not None:
        if int(limit) < 1:
            raise ConfigError(f"limit={limit}: must be a positive number of tasks (or null)")
        ids = ids[: int(limit)]
    return ids


def benchmark_inputs(cfg: DictConfig) -> dict[str, Path]:
    """Data files a benchmark reads besides its package data (WebShop's synthesized goals): keyed
    by their producing run's key or their size and mtime, so new contents are never served from
    a stale cache."""
    env = OmegaConf.select(cfg, "benchmark.env")
    goals = env.get("goals_file") if env is not None else None
    return {"goals_file": Path(str(goals))} if goals else {}


def same_benchmark(name: str, label: str) -> bool:
    """Whether data labelled ``label`` belongs to benchmark ``name`` (a benchmark may label runs
    on stand-in data with a suffix: WebShop's bundled mini catalog is ``webshop_mini``)."""
    return label == name or label.startswith(name + "_")


def upstream_label(path: Path) -> str | None:
    """The benchmark label of the run that produced ``path`` (a checkpoint's own lineage, a run
    dir, or a file up to two levels inside one): its manifest's ``counts.benchmark`` (e.g. ``webshop_mini``), else the
    ``benchmark.name`` of its config (manifests of runs that did not count it); None for a
    hand-made input."""
    lineage = checkpoint_lineage(path)
    if lineage.get("benchmark"):
        return str(lineage["benchmark"])  # a checkpoint says it itself, wherever it was copied
    start = path if path.is_dir() else path.parent
    for d in [start, *list(start.parents)[:2]]:
        if (d / "manifest.json").exists():
            m = load_manifest(d)
            label = m.get("counts", {}).get("benchmark")
            if not label:
                label = (m.get("config", {}).get("benchmark") or {}).get("name")
            return str(label) if label else None
    return None


def upstream_benchmark(cfg: DictConfig, path: Path, config_key: str) -> str | None:
    """The benchmark an input artifact was made on (:func:`upstream_label`), refused with one
    clear line if it is not ``cfg.benchmark.name``; None if the input has no manifest (a
    hand-made file)."""
    label = upstream_label(path)
    name = str(cfg.benchmark.name)
    if label and not same_benchmark(name, label):
        raise ConfigError(
            f"{config_key}={path} was made on benchmark {label!r} but benchmark={name}; pass "
            f"benchmark={label.split('_mini')[0]} (or an input made on {name})"
        )
    return label


def upstream_split(path: Path) -> str | None:
    """The benchmark split the data behind ``path`` came from: the first ``split`` in the
    manifests of its run and, through their ``inputs``, the runs upstream (synthesize's
    triplets -> explore's trajectories); None if no manifest says."""
    start = path if path.is_dir() else path.parent
    for d in [start, *list(start.parents)[:2]]:
        if (d / MANIFEST).exists():
            m = load_manifest(d)
            if m.get("config", {}).get("split"):
                return str(m["config"]["split"])
            for entry in m.get("inputs", {}).values():
                found = upstream_split(Path(entry["path"])) if entry.get("path") else None
                if found:
                    return found
            return None
    return None


def check_benchmark_inputs(inputs: dict[str, Path], env: Env) -> None:
    """Data files of the benchmark (:func:`benchmark_inputs`, e.g. WebShop's ``goals_file``)
    must come from a run on this very data: goals synthesized on the bundled mini catalog name
    products the full catalog does not have, and the other way round."""
    for name, path in inputs.items():
        made_on = upstream_label(path)
        if made_on and made_on != env.benchmark:
            raise ConfigError(
                f"benchmark.env.{name}={path} was made on {made_on!r} but this env is "
                f"{env.benchmark!r}; "
                f"use a {name} made on the same catalog (the run's manifest says which)"
            )


def loaded_sources(uses: Iterable[str]) -> dict[str, str]:
    """The content hashes of the code this process's run depends on: every ``arm_exp`` module
    loaded so far (``sys.modules``; stages import heavy or optional parts lazily, so an edit
    reaches only the stages that load the edited module) and the ``conf/`` files Hydra composed
    for it: the primary config, ``base.yaml`` and the chosen option of each group the stage
    ``uses`` (plus ``experiment`` and ``debug``)."""
    files: list[Path] = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and Path(path).resolve().is_relative_to(PACKAGE_DIR):
            files.append(Path(path))
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        conf = Path(CONF_DIR)
        files += [conf / f"{hc.job.config_name}.yaml", conf / "base.yaml"]
        wanted = {*uses, "experiment", "debug"}
        for group, option in hc.runtime.choices.items():
            if option is not None and override_root(group) in wanted:
                files.append(conf / group.split("@", 1)[0] / f"{option}.yaml")
    return source_hashes(files)


def code_check(manifest: dict[str, Any], where: Path, allow: bool) -> bool:
    """Whether the run in ``where`` (its ``manifest``) may be reused or resumed by this code:
    yes when the files it recorded hash the same; when they do not, only with ``allow``
    (``reuse_across_code_change=true``), and either way a warning names the changed files."""
    changed = changed_sources(manifest)
    if not changed:
        return True
    files = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    if allow:
        log.warning(
            "%s: reusing a %s run made by other code (reuse_across_code_change=true); changed "
            "since: %s",
            where,
            manifest.get("stage"),
            files,
        )
        return True
    log.warning(
        "%s: the code of this %s run changed since (%s): its artifacts start afresh "
        "(reuse_across_code_change=true would keep them)",
        where,
        manifest.get("stage"),
        files,
    )
    return False


class StageRecord:
    """One run of a stage (its declaration ``stage``): key, manifest, run dir, loggers (see
    the module docstring). ``spec``: the stage's key parts for ``cfg``, if already computed.

    The manifest keeps the resolved config of the keys the stage reads, and the trackers' tags
    come from them.
    """

    def __init__(self, cfg: DictConfig, stage: Stage, spec: KeySpec | None = None) -> None:
        spec = stage.key_spec(cfg) if spec is None else spec
        artifacts = stage.artifacts
        self.spec = spec
        self.cfg = cfg
        self.stage = stage.name
        reads = [str(k) for k in cfg] if stage.reads is None else stage.reads
        self.uses = [*dict.fromkeys([*reads, "seed"])]
        self.dir = run_dir(cfg)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()
        self.key = spec.key(cfg)
        self.tags: dict[str, str | None] = {
            "benchmark": OmegaConf.select(cfg, "benchmark.name", default=None)
            if "benchmark" in self.uses
            else None
        }
        self.previous: dict[str, Any] | None = None
        manifest_path = self.dir / "manifest.json"
        if manifest_path.exists():
            prev = load_manifest(self.dir)
            other = prev.get("key") != self.key or prev.get("stage") != self.stage
            produced = [name for name in artifacts if _nonempty(self.dir / name)]
            if other and not prev.get("complete") and not produced:
                log.warning(
                    "%s: an earlier %s run with another config produced nothing here; "
                    "this run takes the dir over",
                    self.dir,
                    prev.get("stage"),
                )
                prev = {}
            elif other and cfg.get("force") and prev.get("stage") == self.stage:
                log.warning(
                    "%s: replacing a %s run with another config (force=true)", self.dir, self.stage
                )
                prev = {**prev, "key": self.key}
            elif other:
                raise ArtifactError(
                    f"{manifest_path}: this run dir holds a {prev.get('stage')} run with another "
                    f"config (key {prev.get('key')} != {self.key}); pick a new hydra.run.dir "
                    "(or force=true to replace it)"
                )
            self.previous = prev
            if (
                prev
                and not cfg.get("force")
                and not code_check(prev, self.dir, bool(cfg.get("reuse_across_code_change")))
            ):
                for name in artifacts:
                    (self.dir / name).unlink(missing_ok=True)
                self.previous = None
            if cfg.get("force"):
                # Recompute from scratch: the stage's own artifacts go, nothing is resumed.
                for name in artifacts:
                    (self.dir / name).unlink(missing_ok=True)
                self.previous = None
        self._loggers: list[Any] | None = None
        config = resolved_config(cfg, ["stage", *COMMON & set(cfg), *self.uses])
        self.manifest = Manifest(self.dir, self.stage, self.key, config)
        self.manifest.data["code"] = loaded_sources(self.uses)
        for name, path in spec.inputs.items():
            self.manifest.add_input(name, Path(path).resolve(), input_key(path))
        log.info("%s: run dir %s (key %s)", self.stage, self.dir, self.key)
        if not self.done:
            # A finished run's manifest stays as it is: a re-launched sweep that skips this job
            # must leave it complete (for `report` and for the next re-launch).
            self.manifest.save()

    def record_code(self, code: dict[str, str] | None = None) -> None:
        """Record the code loaded by now (call once the stage has built its parts, before it
        writes records: a resumed run is then checked against all of it), and ``code`` (a
        pipeline's: that of the stage runs it used, which its result depends on)."""
        self.manifest.data["code"].update(code or {})
        self.manifest.data["code"].update(loaded_sources(self.uses))
        self.manifest.save()

    def tag(self, **tags: str | None) -> None:
        """Set tracker tags that the config alone cannot give (``benchmark`` of the data,
        ``backbone`` only when an LLM was used); call before :attr:`loggers` is first read."""
        self.tags.update(tags)

    @property
    def run_tags(self) -> list[str]:
        """The trackers' tags (:func:`arm_exp.tracking.run_tags`), also kept in the manifest."""
        return run_tags(self.cfg, self.uses, self.tags)

    @property
    def loggers(self) -> list[Any]:
        """The run's loggers, created once (Lightning's trainer and ``finish`` share them), the
        W&B run named ``<stage>:<benchmark>:<values set on the command line>``."""
        if self._loggers is None:
            axes, given = run_axes(self.cfg, self.uses)
            name = run_name(self.cfg, self.tags.get("benchmark"), axes, given)
            self._loggers = make_loggers(self.cfg, self.run_tags, name)
        return self._loggers

    @property
    def done(self) -> bool:
        """A complete run with this key is already here (and ``force`` is not set)."""
        return bool(self.previous and self.previous.get("complete"))

    def previous_metrics(self) -> dict[str, float]:
        assert self.previous is not None
        log.info("%s: %s is complete (key %s); nothing to do", self.stage, self.dir, self.key)
        return dict(self.previous.get("metrics", {}))

    def count(self, **counts: Any) -> None:
        self.manifest.data["counts"].update(counts)

    def timing(self, **timings: float) -> None:
        self.manifest.data["timings"].update(timings)

    def finish(
        self,
        metrics: dict[str, float],
        step: int | None = None,
        tables: dict[str, tuple[list[str], list[list[Any]]]] | None = None,
    ) -> dict[str, float]:
        """Write ``metrics.json`` and the completed manifest (with the run's tags) and log to the
        trackers; ``step`` is the trainer's global step (train), None for stages without one.

        Trackers get the metrics, ``tables`` (``{key: (columns, rows)}``, to W&B as tables) and
        as their config the run's axes (:func:`arm_exp.tracking.run_axes`: flat values such as
        ``planner``, ``trainer.max_steps``, for W&B's group-by) beside the resolved ``config``.
        A W&B run lives outside the run dir (``logger.wandb.save_dir``), so no reader of run dirs
        can take its copies of our files for ours; the manifest says where (``wandb``)."""
        from lightning.pytorch.loggers import WandbLogger

        wall = time.perf_counter() - self.started
        self.timing(wall_s=wall)
        metrics = {k: float(v) for k, v in metrics.items()}
        atomic_write_json(self.dir / METRICS, metrics)
        self.manifest.data["tags"] = self.run_tags
        self.manifest.data["code"].update(loaded_sources(self.uses))
        wandb_runs = [lg.experiment for lg in self.loggers if isinstance(lg, WandbLogger)]
        for run in wandb_runs:
            self.manifest.data["wandb"] = {
                "id": run.id,
                "name": run.name,
                "dir": str(Path(run.dir).parent),
            }
        self.manifest.finish(metrics)
        axes, _ = run_axes(self.cfg, self.uses)
        if "backbone" in self.tags and not self.tags["backbone"]:
            axes.pop("llm", None)  # configured but never loaded (a random policy): no axis
        hparams = {
            "stage": self.stage,
            **{k: v for k, v in self.tags.items() if v},
            **axes,
            "config": self.manifest.data["config"],
        }
        for logger in self.loggers:
            logger.log_hyperparams(hparams)
            # Lightning's W&B logger adds `trainer/global_step` whenever a step is given.
            logger.log_metrics(metrics, step=step)
            if isinstance(logger, WandbLogger):
                for key, (columns, rows) in (tables or {}).items():
                    logger.log_table(key=key, columns=columns, data=rows)
                # The manifest (config, metrics, tags, counts, code) among the run's files, under
                # a name no reader of run dirs looks for: an offline run has no readable config
                # or summary there until `wandb sync`.
                atomic_write_json(
                    Path(logger.experiment.dir) / "arm_exp_manifest.json", self.manifest.data
                )
            logger.finalize("success")
            if isinstance(logger, WandbLogger):
                logger.experiment.finish()  # every (multirun) job is its own W&B run
        return metrics


def _nonempty(path: Path) -> bool:
    return path.exists() and (path.is_dir() or path.stat().st_size > 0)


def collect(
    store: ResumableJsonl[T],
    ids: Sequence[str],
    produce: Callable[[list[str]], Iterable[T]],
    desc: str,
    postfix: Callable[[ResumableJsonl[T]], dict[str, str]] | None = None,
    heartbeat: Callable[[], dict[str, Any]] | None = None,
) -> tuple[list[T], int]:
    """The records of ``ids`` in ``store``: those already there (an interrupted run), then
    ``produce(todo)`` for the rest, appended as they come under a progress bar; the file is
    rewritten in ``ids`` order at the end (a resumed run equals an uninterrupted one).

    Returns the records and how many were already there. ``produce`` yields one record per id
    (in any order); the store is closed even when it raises. ``heartbeat`` (live counters, e.g.
    tokens so far) refreshes the bar's postfix while a long record is being produced.
    """
    todo = [i for i in ids if i not in store]
    resumed = len(ids) - len(todo)
    if resumed:
        log.info("resuming: %d of %d records already in %s", resumed, len(ids), store.path)
    try:
        with progress(len(ids), desc, resumed) as bar, Heartbeat(bar, heartbeat):
            for record in produce(todo):
                store.append(record)
                bar.update()
                if postfix is not None:
                    bar.set_postfix(postfix(store), refresh=False)
    finally:
        store.close()
    return store.finalize(list(ids)), resumed


def progress(total: int, desc: str, initial: int = 0):
    """A progress bar: live on a terminal, a line every 30 s in batch logs (SLURM, CI)."""
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(
        total=total, initial=initial, desc=desc, mininterval=0.5 if tty else 30.0, dynamic_ncols=tty
    )


class Heartbeat:
    """Refresh a progress bar's postfix from ``read()`` while work is under way.

    One record can take minutes (an MCTS task with an LLM on CPU): the bar's count alone does
    not show that it moves. A daemon thread sets the postfix every ``every_s`` seconds (at
    least the bar's ``mininterval``: 30 s in batch logs). ``read=None``: does nothing.
    """

    def __init__(
        self, bar: Any, read: Callable[[], dict[str, Any]] | None, every_s: float = 2.0
    ) -> None:
        self.bar = bar
        self.read = read
        self.every_s = max(every_s, float(getattr(bar, "mininterval", 0.0) or 0.0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self.read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        assert self.read is not None
        while not self._stop.wait(self.every_s):
            try:
                self.bar.set_postfix(self.read(), refresh=True)
            except Exception as e:  # noqa: BLE001 - a progress line never stops a run
                log.debug("progress heartbeat: %s", e)


def summary(metrics: dict[str, float]) -> str:
    """Metrics as an aligned two-column table for the terminal."""
    width = max((len(k) for k in metrics), default=0)
    return "\n".join(f"{k:<{width}}  {v:g}" for k, v in sorted(metrics.items()))
