"""What every stage shares: its run dir, its content key and manifest, task selection, metrics.

A stage's ``run(cfg)`` opens a :class:`StageRun`, which

- resolves the run dir (``hydra.run.dir`` or the multirun job dir),
- computes the stage's content key from the config subtree that determines its output
  (``key_fields``) and the keys of its inputs,
- refuses to mix artifacts: a run dir that holds another config's artifacts is an error,
- reports ``done`` when the dir already holds a complete run with the same key (so re-launched
  sweeps and ``pipeline`` skip finished work); ``force=true`` deletes the stage's artifacts
  and recomputes, and
- on :meth:`StageRun.finish` writes ``metrics.json`` and the completed ``manifest.json`` and
  sends the metrics to the configured loggers.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from arm_exp.artifacts import (
    METRICS,
    ArtifactError,
    Manifest,
    atomic_write_json,
    content_key,
    input_key,
    load_manifest,
    redact,
)
from arm_exp.envs.base import Env
from arm_exp.sweeps import register_resolvers

log = logging.getLogger(__name__)

# The configs live at the repo root (conf/); stages are used from an editable install or a
# clone. ARM_EXP_CONF points elsewhere (e.g. a copy with a lab's own configs).
CONF_DIR = os.environ.get("ARM_EXP_CONF") or str(Path(__file__).resolve().parents[2] / "conf")
# Before any config is composed: the multirun job-dir name (conf/hydra/default.yaml) uses it.
register_resolvers()


class ConfigError(ValueError):
    """A config value is missing or wrong; the message names the key."""


def run_dir(cfg: DictConfig) -> Path:
    """The stage's output dir: Hydra's run/job dir, or ``paths.output_dir`` outside Hydra."""
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(cfg.paths.output_dir)


def choice(group: str, default: str | None = None) -> str | None:
    """The option chosen for a config group (``planner`` -> ``"mcts"``), from Hydra's runtime."""
    if not HydraConfig.initialized():
        return default
    return HydraConfig.get().runtime.choices.get(group, default)


def container(node: Any) -> Any:
    """A resolved plain-Python copy of a config node (non-config values pass through)."""
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The run's config as plain data, resolved, without Hydra's own node (secrets redacted)."""
    return redact(
        {
            str(k): (None if OmegaConf.is_missing(cfg, k) else container(cfg[k]))
            for k in cfg
            if k != "hydra"
        }
    )


def require(cfg: DictConfig, key: str) -> Any:
    """``cfg[key]`` (dotted) or a :class:`ConfigError` that says how to pass it."""
    value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
    if value is None or (isinstance(value, str) and value in ("", "???")):
        raise ConfigError(f"config key `{key}` is required: pass {key}=... on the command line")
    return value


def select_tasks(env: Env, cfg: DictConfig) -> list[str]:
    """The task ids of ``cfg.split`` (or ``cfg.task_ids``), cut to the first ``cfg.limit``."""
    ids = [str(t) for t in cfg.task_ids] if cfg.get("task_ids") else env.task_ids(str(cfg.split))
    limit = cfg.get("limit")
    if limit is not None:
        if int(limit) < 1:
            raise ConfigError(f"limit={limit}: must be a positive number of tasks (or null)")
        ids = ids[: int(limit)]
    return ids


# Config groups whose choice says what a run is: they become its tags in W&B (`planner:mcts`).
TAG_GROUPS = ("experiment", "llm", "planner", "scorer", "policy", "reward_model", "loss")


def run_tags(cfg: DictConfig) -> list[str]:
    """Tags for a tracker: the stage, the benchmark and the run's choices (``backbone:<llm>``)."""
    tags = [str(cfg.get("stage", "")), f"benchmark:{OmegaConf.select(cfg, 'benchmark.name')}"]
    for group in TAG_GROUPS:
        value = choice(group)
        if value is not None and (group != "llm" or "llm" in cfg):
            tags.append(f"{'backbone' if group == 'llm' else group}:{value}")
    return [t for t in tags if t and not t.endswith(":None")]


def run_group(cfg: DictConfig) -> str:
    """The run's group: ``wandb_group`` if set, else the experiment's name, else the stage."""
    return str(cfg.get("wandb_group") or choice("experiment") or cfg.get("stage"))


def make_loggers(cfg: DictConfig) -> list[Any]:
    """Instantiate ``cfg.logger`` (a dict of Lightning loggers) into a list.

    A logger whose config has ``group`` and ``tags`` (W&B) gets the run's group when its own is
    null, and the run's tags (:func:`run_tags`) before its own.
    """
    node = cfg.get("logger")
    if not node:
        return []
    loggers = []
    for v in node.values():
        if v is None or "_target_" not in v:
            continue
        extra: dict[str, Any] = {}
        if "group" in v and "tags" in v:
            extra = {
                "group": v.group or run_group(cfg),
                "tags": [*run_tags(cfg), *(container(v.tags) or [])],
            }
        loggers.append(instantiate(v, **extra))
    return loggers


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """``metrics[cfg.optimized_metric]`` for a sweeper (Optuna) to optimize, else None."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise ConfigError(
            f"optimized_metric={name} is not among this stage's metrics: {sorted(metrics)}"
        )
    return float(metrics[name])


def benchmark_inputs(cfg: DictConfig) -> dict[str, Path]:
    """Data files a benchmark reads besides its package data (WebShop's synthesized goals): keyed
    by their producing run's key or their size and mtime, so new contents are never served from
    a stale cache."""
    env = OmegaConf.select(cfg, "benchmark.env")
    goals = env.get("goals_file") if env is not None else None
    return {"goals_file": Path(str(goals))} if goals else {}


@dataclass
class KeySpec:
    """What determines a stage's output: config subtrees, input artifacts, extra data."""

    fields: Sequence[str]
    inputs: dict[str, Path] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self, cfg: DictConfig) -> str:
        input_keys = {name: input_key(path) for name, path in self.inputs.items()}
        subtree = {k: container(OmegaConf.select(cfg, k)) for k in self.fields}
        subtree.update(self.extra)
        return content_key(
            subtree,
            [f"{n}:{k or _file_fingerprint(self.inputs[n])}" for n, k in input_keys.items()],
        )


class StageRun:
    """One stage's run: key, manifest, run dir, loggers (see the module docstring)."""

    def __init__(
        self, cfg: DictConfig, stage: str, spec: KeySpec, artifacts: Sequence[str] = ()
    ) -> None:
        self.cfg = cfg
        self.stage = stage
        self.dir = run_dir(cfg)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()
        inputs = spec.inputs
        self.key = spec.key(cfg)
        self.previous: dict[str, Any] | None = None
        manifest_path = self.dir / "manifest.json"
        if manifest_path.exists():
            prev = load_manifest(self.dir)
            other = prev.get("key") != self.key or prev.get("stage") != stage
            if other and cfg.get("force") and prev.get("stage") == stage:
                log.warning(
                    "%s: replacing a %s run with another config (force=true)", self.dir, stage
                )
                prev = {**prev, "key": self.key}
            elif other:
                raise ArtifactError(
                    f"{manifest_path}: this run dir holds a {prev.get('stage')} run with another "
                    f"config (key {prev.get('key')} != {self.key}); pick a new hydra.run.dir "
                    "(or force=true to replace it)"
                )
            self.previous = prev
            if cfg.get("force"):
                # Recompute from scratch: the stage's own artifacts go, nothing is resumed.
                for name in artifacts:
                    (self.dir / name).unlink(missing_ok=True)
                self.previous = None
        self._loggers: list[Any] | None = None
        self.manifest = Manifest(self.dir, stage, self.key, resolved_config(cfg))
        for name, path in inputs.items():
            self.manifest.add_input(name, path, input_key(path))
        if not self.done:
            # A finished run's manifest stays as it is: a re-launched sweep that skips this job
            # must leave it complete (for `report` and for the next re-launch).
            self.manifest.save()

    @property
    def loggers(self) -> list[Any]:
        """The run's loggers, created once (Lightning's trainer and ``finish`` share them)."""
        if self._loggers is None:
            self._loggers = make_loggers(self.cfg)
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

    def finish(self, metrics: dict[str, float], step: int | None = None) -> dict[str, float]:
        wall = time.perf_counter() - self.started
        self.timing(wall_s=wall)
        metrics = {k: float(v) for k, v in metrics.items()}
        atomic_write_json(self.dir / METRICS, metrics)
        self.manifest.finish(metrics)
        for logger in self.loggers:
            logger.log_hyperparams(resolved_config(self.cfg))
            logger.log_metrics(metrics, step=step or 0)
            logger.finalize("success")
            finish = getattr(getattr(logger, "_experiment", None), "finish", None)
            if callable(finish):  # W&B: every (multirun) job is its own run
                finish()
        return metrics


def by_type_metrics(prefix: str, records: Sequence[Any], name: str, value) -> dict[str, float]:
    """``{prefix}/by_type/<task type>/{name}`` for records whose ``meta`` has a ``task_type``.

    ``value(records)`` computes the metric for one group (e.g. a success share).
    """
    groups: dict[str, list[Any]] = {}
    for r in records:
        t = r.meta.get("task_type") if isinstance(getattr(r, "meta", None), dict) else None
        if t is not None:
            groups.setdefault(str(t), []).append(r)
    return {f"{prefix}/by_type/{t}/{name}": float(value(rs)) for t, rs in sorted(groups.items())}


def summary(metrics: dict[str, float]) -> str:
    """Metrics as an aligned two-column table for the terminal."""
    width = max((len(k) for k in metrics), default=0)
    return "\n".join(f"{k:<{width}}  {v:g}" for k, v in sorted(metrics.items()))


def _file_fingerprint(path: Path) -> str:
    """For inputs without a manifest (hand-made files): size and mtime stand in for a key."""
    p = Path(path)
    if p.is_dir():
        return f"dir:{p.resolve()}"
    st = p.stat()
    return f"file:{p.resolve()}:{st.st_size}:{int(st.st_mtime)}"


def compose(
    config_name: str, overrides: Sequence[str] = (), output_dir: str | Path | None = None
) -> DictConfig:
    """Compose a stage's config in-process, as ``arm-exp <stage> <overrides>`` would.

    Sets Hydra's global config so ``${hydra:...}`` interpolations and :func:`choice` work;
    ``output_dir`` becomes the run dir. Used by ``pipeline`` (to compute the stages' keys) and
    by tests (to run stages in-process).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    def _compose() -> DictConfig:
        return hydra_compose(
            config_name=config_name, overrides=list(overrides), return_hydra_config=True
        )

    if GlobalHydra.instance().is_initialized():  # inside a running app (``pipeline``)
        cfg = _compose()
    else:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = _compose()
    if output_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.run.dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


def progress(total: int, desc: str, initial: int = 0):
    """A progress bar: live on a terminal, a line every 30 s in batch logs (SLURM, CI)."""
    import sys

    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(
        total=total, initial=initial, desc=desc, mininterval=0.5 if tty else 30.0, dynamic_ncols=tty
    )
