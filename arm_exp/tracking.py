"""Experiment trackers (W&B, CSV, TensorBoard): which loggers a run gets, its name, group, tags
and the flat values a comparison groups by (:func:`run_axes`).

Tags are what a comparison groups by, so a run carries only the choices that shaped its own
output: a train run has no ``planner:``, a plan run with ``policy=random`` no ``backbone:``,
a plan run with ``scorer=rm`` the ``reward_model:`` and ``loss:`` of its checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from arm_exp.artifacts import REDACTED, is_secret_key, redact
from arm_exp.config import choice, container, override_root

# Config groups whose choice says what a run is: they become its tags (`planner:mcts`).
TAG_GROUPS = ("experiment", "planner", "scorer", "policy", "reward_model", "loss", "synthesis")


def run_tags(
    cfg: DictConfig, uses: Iterable[str], extra: dict[str, str | None] | None = None
) -> list[str]:
    """Tags: the stage, ``benchmark:<name>``, the choices of the groups the stage ``uses``,
    then ``extra`` (``{"backbone": "llama3_8b_server"}``; None values are left out)."""
    uses = set(uses)
    tags = [str(cfg.get("stage", ""))]
    for group in TAG_GROUPS:
        if group in uses or group == "experiment":
            value = choice(group)
            if value is not None:
                tags.append(f"{group}:{value}")
    for name, value in (extra or {}).items():
        if value:
            tags.append(f"{name}:{value}")
    return [t for t in tags if t]


def run_group(cfg: DictConfig) -> str:
    """The run's group: ``wandb_group`` if set, else the experiment's name, else the stage."""
    return str(cfg.get("wandb_group") or choice("experiment") or cfg.get("stage"))


def run_axes(cfg: DictConfig, uses: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """What sets this run apart, as flat values a tracker can group by, and which of them were
    set on its command line.

    The values: the chosen option of each config group the stage ``uses`` (``planner:
    best_of_n``; a role's LLM as ``synthesizer_llm``), plus each key set on its command line
    (``trainer.max_steps: 3``, typed as resolved), leaving out what Hydra leaves out of job dir
    names (``hydra.job.config.override_dirname.exclude_keys``: paths, inputs, launch settings).
    The names: those of the command line's keys (a sweep's axes among them), in its order.
    """
    if not HydraConfig.initialized():
        return {}, []
    hc = HydraConfig.get()
    wanted = {*uses, "experiment", "debug", "seed"}
    exclude = set(hc.job.config.override_dirname.exclude_keys)
    axes: dict[str, Any] = {}
    for group, option in sorted(hc.runtime.choices.items()):
        root = override_root(group)
        if option is not None and root in wanted and group not in exclude:
            axes[root] = str(option)
    given = []
    for override in hc.overrides.task:
        key, sep, value = str(override).lstrip("+~").partition("=")
        root = override_root(key)
        if not sep or key in exclude or root not in wanted:
            continue
        name = root if key.split("@", 1)[0] in hc.runtime.choices else key
        if is_secret_key(key):
            axes[name] = REDACTED
        elif name not in axes:
            axes[name] = redact(container(OmegaConf.select(cfg, key, default=value)))
        given.append(name)
    return axes, [*dict.fromkeys(given)]


def run_name(cfg: DictConfig, benchmark: str | None, axes: dict[str, Any], given: list[str]) -> str:
    """``<stage>:<benchmark>:<run_name>``, ``run_name`` by default the values set on the
    command line (a sweep job's: its swept values), e.g. ``plan:game24:planner=mcts,limit=3``."""
    values = cfg.get("run_name") or ",".join(f"{k}={axes[k]}" for k in given)
    return ":".join(str(p) for p in (cfg.get("stage"), benchmark, values) if p)


def make_loggers(cfg: DictConfig, tags: list[str], name: str) -> list[Any]:
    """Instantiate ``cfg.logger`` (a dict of Lightning loggers) into a list.

    A logger whose config has ``group`` and ``tags`` (W&B) gets the run's group when its own is
    null, ``tags`` before its own, and ``name`` when its own is null.
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
                "tags": [*tags, *(container(v.tags) or [])],
            }
            if not v.get("name"):
                extra["name"] = name
        loggers.append(instantiate(v, **extra))
    return loggers
