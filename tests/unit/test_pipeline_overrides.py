"""What `arm-exp pipeline` gives each stage: every command-line override reaches exactly the
stages that read it, the pipeline's own keys reach none, and a stage's cache key depends only on
its own config (a sweep over planners reuses the explored data and the reward model)."""

from __future__ import annotations

import pytest

from arm_exp.config import compose
from arm_exp.errors import ConfigError
from arm_exp.stages import get, pipeline
from arm_exp.stages.base import KeySpec

TMP = "/tmp/arm-exp-pipeline-overrides"
ALL = {"explore", "synthesize", "train", "plan"}
EVERY = {*ALL, "report"}


def _stages(overrides: list[str]) -> dict[str, list[list[str]]]:
    cfg = compose("pipeline", overrides, TMP, set_hydra_config=False)
    return pipeline.stage_overrides(cfg, overrides)


@pytest.mark.parametrize(
    ("override", "readers"),
    [
        ("loss=hinge", {"train"}),
        ("reward_model.max_length=64", {"train"}),
        ("trainer.max_steps=3", {"train"}),
        ("train.optimizer.lr=1e-4", {"train"}),
        ("planner=mcts", {"plan"}),
        ("scorer=oracle", {"plan"}),
        ("policy=random", {"plan"}),
        ("objective=fewer_actions", {"plan"}),
        ("explorer=llm", {"explore", "synthesize"}),  # synthesis=mc_values runs the explorer
        ("explore.num_per_task=2", {"explore"}),
        ("synthesis=llm", {"synthesize"}),
        ("llm=openai_server", {"explore", "synthesize", "plan"}),
        ("llm@synthesizer_llm=smollm2_cpu", {"synthesize"}),
        ("benchmark=webshop", ALL),
        ("benchmark.max_steps=5", ALL),
        ("seed=3", EVERY),
        ("experiment=demo_game24", EVERY),
        ("debug=cpu_smoke", EVERY),
        ("logger=csv", EVERY),
        ("report.show=false", {"report"}),
        ("pipeline.plan.limit=2", set()),
        ("force=true", set()),
    ],
)
def test_an_override_reaches_exactly_its_readers(override, readers):
    stages = _stages([override])
    got = {name for name, lists in stages.items() if any(override in ov for ov in lists)}
    assert got == readers


def test_tasks_come_from_the_pipeline_not_the_command_line():
    stages = _stages(["pipeline.explore.limit=7", "pipeline.plan.split=train"])
    assert "limit=7" in stages["explore"][0] and "limit=null" in stages["plan"][0]
    assert "split=train" in stages["plan"][0] and not any(
        o.startswith("split=") for o in stages["explore"][0]
    )
    # `limit=N` on the command line caps explore and plan (a smoke run of any experiment).
    stages = _stages(["pipeline.explore.limit=7", "limit=2"])
    assert stages["explore"][0][-1] == "limit=2" and stages["plan"][0][-1] == "limit=2"
    for key in ("split=test", "rm_ckpt=/x", "input_dir=/x"):
        with pytest.raises(ConfigError, match="not a pipeline key"):
            pipeline._check(compose("pipeline", [key], TMP, set_hydra_config=False))


def test_plans_list_one_run_each_after_the_command_line():
    stages = _stages(["planner.n=4", "pipeline.plans=[['planner=mcts'],['planner=greedy']]"])
    assert [ov[-1] for ov in stages["plan"]] == ["planner=mcts", "planner=greedy"]
    assert all("planner.n=4" in ov for ov in stages["plan"])


def _keys(overrides: list[str]) -> tuple[str, str, str]:
    stages = _stages(overrides)
    cfgs = {
        name: compose(name, [*stages[name][0], "input_dir=/x"], TMP, set_hydra_config=False)
        for name in ("explore", "synthesize", "train")
    }
    return (
        get("explore").key_spec(cfgs["explore"]).key(cfgs["explore"]),
        KeySpec(get("synthesize").key).key(cfgs["synthesize"]),
        KeySpec(get("train").key).key(cfgs["train"]),
    )


def test_only_a_stages_own_config_changes_its_key():
    base = _keys([])
    # planning knobs, including the benchmark's planning sizes, leave the reward model alone
    for planning in (["planner=mcts"], ["policy=random", "scorer=oracle"],
                     ["benchmark.planning.best_of_n=7"], ["benchmark=scienceworld_seen"]):  # fmt: skip
        if planning == ["benchmark=scienceworld_seen"]:
            seen, unseen = _keys(planning), _keys(["benchmark=scienceworld_unseen"])
            assert seen == unseen  # seen and unseen share the reward model
            continue
        assert _keys(planning) == base, planning
    loss = _keys(["loss=hinge"])
    assert loss[:2] == base[:2] and loss[2] != base[2]
    synth = _keys(["synthesis.negatives_per_positive=1"])
    assert synth[0] == base[0] and synth[1] != base[1]
