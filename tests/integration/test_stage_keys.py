"""Every config key a stage reads is part of its cache key, or declared as not changing its result.

Each cached stage runs for real (Game of 24 on CPU; goals on the bundled WebShop catalog) on a
config where every value its declaration (:class:`arm_exp.stages.base.Stage`) does not cover is
unset (``???``): the top-level keys it does not read, the parts of its ``key`` it excludes, and
anything neither in its ``key`` nor in its ``unkeyed`` reasons. A stage that reads such a value
fails with OmegaConf's "Missing mandatory value: <key>", so a key read but not keyed (a cache
that would silently reuse a stale run) fails here, naming the key.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import MissingMandatoryValue

from arm_exp.config import compose
from arm_exp.stages import get
from arm_exp.stages.base import COMMON_UNKEYED, Stage
from tests.conftest import ROOT

TINY_TRAIN = ["trainer.max_steps=1", "reward_model.max_length=32", "train.data.batch_size=4",
              "trainer.enable_progress_bar=false"]  # fmt: skip


def _covered(stage: Stage) -> tuple[list[str], list[str]]:
    """The dotted keys the stage may read (its key, its reasons, the common reasons) and those
    it must not (the parts of its key it excludes, unless it gives a reason to read them)."""
    reasons = [*stage.unkeyed, *COMMON_UNKEYED]
    excluded = [k for k in stage.key_exclude if not _under(k, reasons)]
    return [*stage.key, *reasons], excluded


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def _above(path: str, prefixes: list[str]) -> bool:
    return any(p.startswith(path + ".") for p in prefixes)


def restricted(stage: Stage, overrides: list[str], run_dir: Path) -> DictConfig:
    """``stage``'s config for ``overrides`` (resolved: an interpolation is the value it names)
    with every value its declaration does not cover set to ``???``."""
    cfg = compose(stage.name, [f"paths.root_dir={ROOT}", *overrides], run_dir)
    allowed, excluded = _covered(stage)
    with read_write(cfg), open_dict(cfg):
        for key in [str(k) for k in cfg if k != "hydra"]:
            node = cfg._get_node(key)
            if isinstance(node, DictConfig | ListConfig) and not node._is_none():
                OmegaConf.resolve(node)
            elif OmegaConf.is_interpolation(cfg, key):
                cfg[key] = cfg[key]
        for key in [str(k) for k in cfg if k != "hydra"]:
            _mask(cfg, key, allowed, excluded)
    return cfg


def _mask(cfg: DictConfig, path: str, allowed: list[str], excluded: list[str]) -> None:
    node = OmegaConf.select(cfg, path, throw_on_missing=False)
    if _under(path, excluded):
        OmegaConf.update(cfg, path, "???", force_add=True)
        return
    if _under(path, allowed) and not _above(path, excluded):
        return
    if (
        isinstance(node, DictConfig)
        and len(node)
        and (_above(path, allowed) or _above(path, excluded))
    ):
        for key in [str(k) for k in node]:
            _mask(cfg, f"{path}.{key}", allowed, excluded)
        return
    if _above(path, allowed):
        return  # a null (or empty) node over a declared key: reading it is reading that key
    OmegaConf.update(cfg, path, "???", force_add=True)


def run_restricted(stage: Stage, overrides: list[str], run_dir: Path) -> dict[str, float]:
    return stage.run(restricted(stage, overrides, run_dir))


@pytest.fixture(scope="module")
def game24_chain(tmp_path_factory) -> dict[str, Path]:
    """explore -> synthesize -> train -> plan -> report, each run on its restricted config."""
    root = tmp_path_factory.mktemp("keys")
    dirs = {s: root / s for s in ("explore", "synthesize", "train", "plan", "report", "export")}
    run_restricted(get("explore"), ["split=train", "limit=3", "explore.num_per_task=4"],
                   dirs["explore"])  # fmt: skip
    run_restricted(get("synthesize"), [f"input_dir={dirs['explore']}"], dirs["synthesize"])
    run_restricted(get("train"), [f"input_dir={dirs['synthesize']}", *TINY_TRAIN], dirs["train"])
    run_restricted(get("plan"), [f"rm_ckpt={dirs['train']}", "policy=random", "limit=2",
                                 "planner.n=2"], dirs["plan"])  # fmt: skip
    run_restricted(get("report"), [f"input_dir={dirs['plan']}"], dirs["report"])
    run_restricted(get("export"), [f"rm_ckpt={dirs['train']}"], dirs["export"])
    return dirs


@pytest.mark.parametrize("stage", ["explore", "synthesize", "train", "plan", "report", "export"])
def test_a_stage_reads_only_what_its_declaration_covers(stage, game24_chain):
    manifest = game24_chain[stage] / "manifest.json"
    assert manifest.exists() and '"complete": true' in manifest.read_text()


def test_goals_read_only_what_their_declaration_covers(tmp_path):
    run_restricted(get("goals"), ["benchmark=webshop", "goal_writer=rule", "limit=4",
                                  "goals.num_products=4"], tmp_path / "goals")  # fmt: skip
    assert (tmp_path / "goals" / "goals.jsonl").stat().st_size > 0


def test_a_key_left_out_of_a_stages_key_fails_the_check(tmp_path, game24_chain):
    """The check has teeth: without ``planner`` in plan's key (and no reason given), planning
    reads an unset value and fails, naming it."""
    plan = get("plan")
    crippled = dataclasses.replace(plan, key=tuple(k for k in plan.key if k != "planner"))
    with pytest.raises(MissingMandatoryValue, match=r"full_key: planner"):
        run_restricted(crippled, [f"rm_ckpt={game24_chain['train']}", "policy=random",
                                  "limit=2", "planner.n=2"], tmp_path / "plan")  # fmt: skip
    explore = get("explore")
    crippled = dataclasses.replace(explore, key=tuple(k for k in explore.key if k != "explore"))
    with pytest.raises(MissingMandatoryValue, match=r"full_key: explore"):
        run_restricted(crippled, ["split=train", "limit=1"], tmp_path / "explore")


def test_every_cached_stage_declares_what_it_reads():
    """Each top-level key a cached stage reads is in its key or has a reason not to be."""
    for command in ("goals", "explore", "synthesize", "train", "plan", "report", "export"):
        stage = get(command)
        for key in stage.reads or ():
            assert _under(key, [*stage.key, *stage.unkeyed]) or _above(
                key, [*stage.key, *stage.unkeyed]
            ), f"{command} reads `{key}` but neither keys it nor says why not"
