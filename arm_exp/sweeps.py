"""Multirun support: per-job dir names, upstream waves, the Optuna search-space hook, launcher
plugin checks.

- :func:`job_dir` names a multirun job's dir after its own overrides (``hydra.sweep.subdir`` in
  ``conf/hydra/default.yaml``), so two jobs of a sweep never share a dir and a sweep re-launched
  into the same ``hydra.sweep.dir`` finds every finished job where it left it (the stages then
  skip it: see :class:`arm_exp.stages.record.StageRecord`), whatever order the jobs come in; a long
  name keeps the swept keys first.
- :func:`upstream_waves` orders the reward-model stages a pipeline sweep's jobs share into waves
  that run each of them once before the jobs (the ``arm_exp_waves`` sweeper,
  ``hydra_plugins/arm_exp_waves``), so no job holds a GPU while another runs a stage it needs.
- :func:`margin_search_space` is the Optuna sweeper's ``custom_search_space``: it samples
  ``loss.margin`` only for the losses that have a margin.
- :func:`check_plugins` turns ``launcher=joblib`` without the plugin installed into one line that
  says what to install, before Hydra's own "Could not find 'hydra/launcher/joblib'".
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from arm_exp.artifacts import PROJECT_ROOT
from arm_exp.errors import ConfigError

# A longer name is reordered and shortened (file names stay < 255 bytes; see job_dir).
MAX_JOB_DIR = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9=,.+\-_@:\[\]]")
# An item of Hydra's override_dirname begins at a key and its `=` (a value may hold commas).
_ITEM = re.compile(r",(?=[+~]*[A-Za-z_][\w.@/-]*=)")
# Config groups whose options need a Hydra plugin; each option's file names it (`<group>.plugin`).
PLUGIN_GROUPS = ("launcher", "hparams_search")


def swept_keys(sweep_dir: str | Path | None) -> list[str]:
    """The keys a multirun sweeps (``planner=a,b``, ``x=range(...)``), read from the
    ``multirun.yaml`` Hydra's sweeper writes into the sweep dir before it launches a job; empty
    when there is none (a run, or a sweeper that writes none)."""
    path = Path(str(sweep_dir)) / "multirun.yaml" if sweep_dir else None
    if path is None or not path.is_file():
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser

    task = OmegaConf.select(OmegaConf.load(path), "hydra.overrides.task", default=None) or []
    parsed = OverridesParser.create().parse_overrides([str(o) for o in task])
    return [
        o.key_or_group + (f"@{o.package}" if o.package else "")
        for o in parsed
        if o.is_sweep_override()
    ]


def _short_key(key: str) -> str:
    """``train.data.train_fraction`` -> ``t.d.train_fraction`` (the last part stays whole)."""
    prefix, dot, last = key.rpartition(".")
    if not dot:
        return key
    return ".".join(part[:1] for part in prefix.split(".")) + "." + last


def job_dir(
    override_dirname: str | None, num: int | str, sweep_dir: str | Path | None = None
) -> str:
    """A file-system-safe dir name for a job from its ``override_dirname`` (``job<num>`` if none).

    A name up to :data:`MAX_JOB_DIR` characters is the overrides as Hydra sorts them
    (``planner=mcts,scorer=rm``). A longer one puts the sweep's swept keys first
    (:func:`swept_keys`), shortens every dotted key (``t.d.train_fraction=0.5``), keeps what fits
    and ends with a hash of the whole, so the values that tell a sweep's jobs apart stay
    readable. Either way the name is a function of the job's overrides and of which keys the
    command line sweeps: the same sweep re-launched finds each job's dir.
    """
    name = _UNSAFE.sub("_", str(override_dirname or "").replace("/", "_"))
    if not name:
        return f"job{num}"
    if len(name) <= MAX_JOB_DIR:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    swept = swept_keys(sweep_dir)
    items = _ITEM.split(name)

    def rank(item: str) -> int:
        key = item.partition("=")[0].lstrip("+~")
        return swept.index(key) if key in swept else len(swept)

    items = sorted(items, key=rank)  # stable: the rest keeps Hydra's order
    short = ",".join(f"{_short_key(k)}={v}" for k, _, v in (i.partition("=") for i in items))
    return f"{short[: MAX_JOB_DIR - 11]}-{digest}"


def upstream_waves(chains: Sequence[Sequence[tuple[str, str]]]) -> list[list[tuple[int, str]]]:
    """Which jobs run the stages they share first, wave by wave.

    ``chains[j]`` is job ``j``'s stages to run before its own work, in order, as ``(stage,
    node)``; ``node`` names the run of that stage and of everything before it (equal nodes: one
    run; :func:`arm_exp.stages.pipeline.pending_upstream`). Returns the waves, each a list of
    ``(job, stage)``: that job runs its chain up to ``stage`` and stops. A wave's jobs share no
    stage, and each stage is run by exactly one wave job: a job runs down its chain until a
    node that several chains continue from differently (each continuation is a job of the next
    wave) or its chain ends, so a sweep of one chain is one job, and a loss sweep is one job
    for explore and synthesize, then one job per loss.
    """
    following: defaultdict[str | None, set[str]] = defaultdict(set)
    for chain in chains:
        previous: str | None = None
        for _, node in chain:
            following[previous].add(node)
            previous = node
    ends: dict[str, tuple[int, int, str]] = {}  # node -> (wave, job, stage)
    for job, chain in enumerate(chains):
        wave = 0
        for i, (stage, node) in enumerate(chain):
            if i == len(chain) - 1 or len(following[node]) > 1:
                ends.setdefault(node, (wave, job, stage))
                wave += 1
    waves: list[list[tuple[int, str]]] = [
        [] for _ in range(1 + max((w for w, _, _ in ends.values()), default=-1))
    ]
    for wave, job, stage in ends.values():
        waves[wave].append((job, stage))
    return waves


def register_resolvers() -> None:
    """``${arm_exp.job_dir:...}`` and ``${arm_exp.project_root:}`` for the configs (idempotent)."""
    if not OmegaConf.has_resolver("arm_exp.job_dir"):
        OmegaConf.register_new_resolver("arm_exp.job_dir", job_dir)
    if not OmegaConf.has_resolver("arm_exp.project_root"):
        OmegaConf.register_new_resolver("arm_exp.project_root", lambda: str(PROJECT_ROOT))


def margin_search_space(cfg: Any, trial: Any) -> None:
    """Optuna ``custom_search_space``: a margin in [0.1, 2] for the losses that take one.

    The sweeper has already sampled ``loss`` (``trial.params["loss"]``); Bradley-Terry has no
    margin, so sampling one for it would only add a dead dimension to the search.
    """
    if trial.params.get("loss") in ("margin", "hinge"):
        trial.suggest_float("loss.margin", 0.1, 2.0)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the `hydra_plugins` namespace itself is missing
        return False


class PluginMissing(ConfigError):
    """A config option needs a Hydra plugin that is not installed; the message says which."""


def check_plugins(overrides: list[str], conf_dir: str | Path) -> None:
    """Raise :class:`PluginMissing` if an override picks a launcher/sweeper whose plugin is absent.

    Each option file in ``conf/launcher/`` and ``conf/hparams_search/`` names its plugin module
    and the install command (``launcher.plugin``, ``launcher.install``).
    """
    for override in overrides:
        key, sep, value = override.lstrip("+~").partition("=")
        if not sep or key not in PLUGIN_GROUPS or not value or value == "null":
            continue
        # `launcher=joblib`; a sweep over launchers is odd but legal
        for option in value.split(","):
            path = Path(conf_dir) / key / f"{option}.yaml"
            if not path.exists():
                continue  # Hydra reports unknown options itself, with the available ones
            loaded = OmegaConf.load(path)
            node = (loaded.get(key) if isinstance(loaded, DictConfig) else None) or {}
            module = node.get("plugin")
            if module and not _importable(module):
                raise PluginMissing(
                    f"{key}={option} ({path}) needs the Hydra plugin `{module}`, which is not "
                    f"installed: {node.get('install') or 'install it with pip'}"
                )
