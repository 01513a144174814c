"""Every option of every config group composes with every stage that uses it, and instantiates
on CPU without optional extras (heavy resources are created lazily, on first use)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from arm_exp.stages.common import CONF_DIR, compose
from tests.conftest import have_cuda

CONF = Path(CONF_DIR)
PRIMARY = sorted(p.stem for p in CONF.glob("*.yaml"))
# Groups that only override other keys (no objects of their own).
GLOBAL_GROUPS = {"experiment", "debug", "hydra", "paths", "hparams_search", "launcher"}


def _options(group: str) -> list[str]:
    return sorted(
        str(p.relative_to(CONF / group).with_suffix("")) for p in (CONF / group).rglob("*.yaml")
    )


def _groups_of(primary: str) -> list[str]:
    cfg = compose(primary, [], "/tmp/arm-exp-config-test")
    return sorted(k for k in cfg.hydra.runtime.choices if not k.startswith("hydra/"))


USES = {p: _groups_of(p) for p in PRIMARY}


def _pipeline_only(group: str, option: str) -> bool:
    """An experiment that only sets `pipeline.*` means nothing to the other stages (they would
    carry the key along unused); tests/config/test_experiments.py composes each of its stages."""
    if group != "experiment":
        return False
    keys = set(OmegaConf.load(CONF / group / f"{option}.yaml").keys()) - {"defaults"}
    return keys <= {"pipeline"}


CASES = [
    (primary, group, option)
    for primary, groups in USES.items()
    for group in groups
    if (CONF / group.split("@")[0]).is_dir()
    for option in _options(group.split("@")[0])
    if primary == "pipeline" or not _pipeline_only(group, option)
]


def _package(group: str, option: str) -> str:
    """Where an option lands: its ``# @package X`` header (``objective`` fills
    ``planner.objective``), else the group's name or ``@`` package."""
    path = CONF / group.split("@")[0] / f"{option}.yaml"
    first = path.read_text().splitlines()[:1]
    if first and first[0].startswith("# @package ") and "_global_" not in first[0]:
        return first[0].split()[-1]
    return group.split("@")[-1]


def _targets(node) -> list[DictConfig]:
    """The outermost nodes with a _target_ inside ``node``."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            return [node]
        return [t for v in node.values() for t in _targets(v)]
    if isinstance(node, ListConfig):
        return [t for v in node for t in _targets(v)]
    return []


def test_every_group_is_used_by_some_stage():
    used = {g.split("@")[0] for groups in USES.values() for g in groups}
    on_disk = {p.name for p in CONF.iterdir() if p.is_dir()}
    assert on_disk - used - {"hydra"} == set()


@pytest.mark.parametrize(("primary", "group", "option"), CASES, ids=lambda x: str(x))
def test_option_composes_and_instantiates(primary, group, option, tmp_path, request):
    from arm_exp.sweeps import PLUGIN_GROUPS, PluginMissing, check_plugins

    if group in PLUGIN_GROUPS:
        # an option whose Hydra plugin lives in its own extra (launcher=ray): without the plugin
        # the CLI must refuse it in one line that names the install command
        try:
            check_plugins([f"{group}={option}"], CONF_DIR)
        except PluginMissing as e:
            assert "pip install" in str(e) and option in str(e)
            pytest.skip(f"{group}={option}: plugin not installed ({e})")
    extra = []
    if "rm_ckpt" in list(compose(primary, [], tmp_path).keys()):
        extra.append(f"rm_ckpt={request.getfixturevalue('tiny_rm_ckpt')}")
    cfg = compose(primary, [f"{group}={option}", *extra], tmp_path)
    _resolve_all(cfg)
    if group.split("@")[0] in GLOBAL_GROUPS:
        return
    package = _package(group, option)
    node = OmegaConf.select(cfg, package)
    if node is None:  # an explicit "nothing" option (scorer=none)
        assert (CONF / group.split("@")[0] / f"{option}.yaml").read_text().strip()
        return
    targets = _targets(node)
    assert targets, f"{group}/{option}.yaml builds no object (no _target_)"
    for t in targets:
        if t.get("accelerator") == "gpu" and not have_cuda():
            assert callable(get_object(t._target_))  # a GPU trainer cannot be built on a CPU box
            continue
        assert instantiate(t) is not None


def _resolve_all(cfg: DictConfig) -> None:
    """Resolve every interpolation outside the (read-only) hydra node; raises on a broken one."""
    for key in cfg:
        if key == "hydra" or OmegaConf.is_missing(cfg, key):  # `???`: required on the command line
            continue
        value = cfg[key]
        if isinstance(value, DictConfig | ListConfig):
            OmegaConf.to_container(value, resolve=True)


@pytest.mark.parametrize("primary", PRIMARY)
def test_primary_config_defaults(primary, tmp_path):
    cfg = compose(primary, [], tmp_path)
    assert cfg.stage
    for common in ("paths",):
        assert common in cfg
