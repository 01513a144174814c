"""The paper experiments (conf/experiment/): the table is complete, every file says what its name
says, and every stage `arm-exp pipeline experiment=X` would run composes for real.

The CPU smoke runs of the Game of 24 experiments are in tests/integration/test_sweeps.py (slow).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from arm_exp.stages.common import CONF_DIR, compose
from arm_exp.stages.pipeline import stage_overrides

CONF = Path(CONF_DIR)
# base/ holds the parts the experiments share, not runs of their own.
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
BENCHMARKS = ("game24", "webshop", "scienceworld")
PLANNERS = ("sampling", "greedy", "reflexion", "best_of_n", "mcts")
BACKBONES = {
    "llama3_8b": "llama3_8b_server",
    "llama3_70b": "llama3_70b_awq_server",
    "mistral_7b": "mistral_7b_server",
    "phi35_mini": "phi35_mini_server",
}
CELLS = [f"{b}_{p}_{k}" for b in BENCHMARKS for p in PLANNERS for k in BACKBONES]
ABLATIONS = [e for e in EXPERIMENTS if "_ablation_" in e]


@functools.cache
def _overrides(experiment: str, extra: tuple[str, ...] = ()) -> dict[str, list[list[str]]]:
    cfg = compose("pipeline", [f"experiment={experiment}", *extra], "/tmp/arm-exp-experiments")
    return stage_overrides(cfg)


def test_the_paper_table_is_complete():
    assert sorted(set(CELLS) - set(EXPERIMENTS)) == []
    kinds = {e.split("_ablation_")[1].split("_")[0] for e in ABLATIONS}
    assert {"rm", "loss", "data", "synthesis", "policy"} <= kinds


@pytest.mark.parametrize("cell", CELLS)
def test_cell_runs_what_its_name_says(cell):
    benchmark, rest = cell.split("_", 1)
    backbone = next(k for k in BACKBONES if rest.endswith(k))
    planner = rest[: -len(backbone) - 1]
    plans = _overrides(cell)["plan"]
    assert plans
    for plan in plans:
        assert f"benchmark={benchmark}" in plan
        assert f"planner={planner}" in plan
        assert f"llm={BACKBONES[backbone]}" in plan
        assert "policy=llm" in plan
        assert ("scorer=none" in plan) == (planner in ("sampling", "greedy"))
    splits = sorted(o for plan in plans for o in plan if o.startswith("split="))
    expected = ["split=seen", "split=unseen"] if benchmark == "scienceworld" else ["split=test"]
    assert splits == expected


def _distinct_stage_configs() -> list[tuple[str, tuple[str, ...]]]:
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for e in EXPERIMENTS:
        for stage, lists in _overrides(e).items():
            seen.update((stage, tuple(ov)) for ov in lists)
    return sorted(seen)


STAGE_CONFIGS = _distinct_stage_configs()


@pytest.mark.parametrize(
    ("stage", "overrides"),
    STAGE_CONFIGS,
    ids=[f"{s}-{i}" for i, (s, _) in enumerate(STAGE_CONFIGS)],
)
def test_every_stage_of_every_experiment_composes(stage, overrides, tmp_path):
    inputs = {"synthesize": ["input_dir=/x"], "train": ["input_dir=/x"], "plan": ["rm_ckpt=/x"]}
    cfg = compose(stage, [*overrides, *inputs.get(stage, [])], tmp_path)
    for key in cfg:  # every interpolation resolves (`???` inputs aside)
        if key != "hydra" and not OmegaConf.is_missing(cfg, key) and OmegaConf.is_config(cfg[key]):
            OmegaConf.to_container(cfg[key], resolve=True)


def test_cpu_smoke_replaces_gpu_parts():
    ov = _overrides("game24_mcts_llama3_70b", ("debug=cpu_smoke", "llm=smollm2_cpu"))
    assert ov["explore"][0][-2:] == ["llm=smollm2_cpu", "limit=2"]
    assert ov["synthesize"][0][-2:] == ["llm=smollm2_cpu", "llm@synthesizer_llm=smollm2_cpu"]
    assert "reward_model=minilm" in ov["train"][0] and "trainer=cpu" in ov["train"][0]
    assert ov["plan"][0][-2:] == ["llm=smollm2_cpu", "limit=2"]
    cfg = compose("plan", [*ov["plan"][0], "rm_ckpt=/x"], "/tmp/arm-exp-experiments")
    assert cfg.llm._target_.endswith("HFLocalLLM")
    assert cfg.planner.rollouts == 2 and cfg.limit == 2


def test_base_parts_refuse_to_run_alone():
    from arm_exp.stages.common import ConfigError

    for base in sorted((CONF / "experiment" / "base").glob("*.yaml")):
        cfg = compose("pipeline", [f"experiment=base/{base.stem}"], "/tmp/arm-exp-experiments")
        with pytest.raises(ConfigError, match="pipeline.plans is empty"):
            stage_overrides(cfg)
