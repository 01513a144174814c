"""Multirun support: per-job dir names, the Optuna search-space hook, launcher plugin checks.

- :func:`job_dir` names a multirun job's dir after its own overrides (``hydra.sweep.subdir`` in
  ``conf/hydra/default.yaml``), so two jobs of a sweep never share a dir and a sweep re-launched
  into the same ``hydra.sweep.dir`` finds every finished job where it left it (the stages then
  skip it: see :class:`arm_exp.stages.run.StageRun`), whatever order the jobs come in.
- :func:`margin_search_space` is the Optuna sweeper's ``custom_search_space``: it samples
  ``loss.margin`` only for the losses that have a margin.
- :func:`check_plugins` turns ``launcher=joblib`` without the plugin installed into one line that
  says what to install, before Hydra's own "Could not find 'hydra/launcher/joblib'".
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Longer names are cut and suffixed with a hash of the whole (file names stay < 255 bytes).
MAX_JOB_DIR = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9=,.+\-_@:\[\]]")
# Config groups whose options need a Hydra plugin; each option's file names it (`<group>.plugin`).
PLUGIN_GROUPS = ("launcher", "hparams_search")


def job_dir(override_dirname: str | None, num: int | str) -> str:
    """A file-system-safe dir name for a job from its ``override_dirname`` (``job<num>`` if none)."""
    name = _UNSAFE.sub("_", str(override_dirname or "").replace("/", "_"))
    if not name:
        return f"job{num}"
    if len(name) > MAX_JOB_DIR:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[: MAX_JOB_DIR - 11]}-{digest}"
    return name


def register_resolvers() -> None:
    """``${arm_exp.job_dir:...}`` for the Hydra configs (idempotent)."""
    if not OmegaConf.has_resolver("arm_exp.job_dir"):
        OmegaConf.register_new_resolver("arm_exp.job_dir", job_dir)


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


class PluginMissing(RuntimeError):
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
