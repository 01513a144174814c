"""Experiment trackers (W&B, CSV, TensorBoard): which loggers a run gets, its name, group and tags.

Tags are what a comparison groups by, so a run carries only the choices that shaped its own
output: a train run has no ``planner:``, a plan run with ``policy=random`` no ``backbone:``,
a plan run with ``scorer=rm`` the ``reward_model:`` and ``loss:`` of its checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from arm_exp.config import choice, container

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


def run_name(cfg: DictConfig) -> str | None:
    """``<stage>:<run_name>``: the pipeline passes its job's overrides as ``run_name``; a
    multirun job of a single stage is named by its own overrides."""
    name = cfg.get("run_name")
    if not name and HydraConfig.initialized():
        name = getattr(HydraConfig.get().job, "override_dirname", None) or None
    return f"{cfg.get('stage')}:{name}" if name else None


def make_loggers(cfg: DictConfig, tags: list[str]) -> list[Any]:
    """Instantiate ``cfg.logger`` (a dict of Lightning loggers) into a list.

    A logger whose config has ``group`` and ``tags`` (W&B) gets the run's group when its own is
    null, ``tags`` before its own, and the run's name when its own is null.
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
            if "name" in v and not v.name:
                extra["name"] = run_name(cfg)
        loggers.append(instantiate(v, **extra))
    return loggers
