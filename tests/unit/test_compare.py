"""What tells plan runs apart (arm_exp/compare.py): a run's settings read from its manifest and
``.hydra`` (interpolated keys and places left out), the axes of a set of runs (group choices own
their keys, seeds are repeats), and which row each row is compared with."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from arm_exp.compare import Settings, axes, lineage, pick_baseline, pooled, run_settings
from arm_exp.compare import stage_settings as read_settings

EXCLUDE = ["launcher", "logger", "force", "rm_ckpt", "input_dir", "run_name", "paths.root_dir"]


def _run_dir(
    path: Path,
    stage: str,
    config: dict,
    unresolved: dict | None = None,
    choices: dict | None = None,
    inputs: dict | None = None,
) -> Path:
    """A stage run dir as the stages and Hydra leave it: manifest, .hydra/config.yaml (the
    config before interpolation) and .hydra/hydra.yaml (choices, exclude_keys)."""
    path.mkdir(parents=True)
    manifest = {"stage": stage, "key": path.name, "complete": True, "config": config,
                "inputs": inputs or {}, "counts": {}}  # fmt: skip
    (path / "manifest.json").write_text(json.dumps(manifest))
    if choices is not None:
        (path / ".hydra").mkdir()
        hydra = {"runtime": {"choices": choices},
                 "job": {"config": {"override_dirname": {"exclude_keys": EXCLUDE}}}}  # fmt: skip
        (path / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": hydra}))
        (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(unresolved or config))
    return path


def _plan_config(n: int, seed: int, ckpt: str) -> dict:
    return {
        "seed": seed,
        "limit": 10,
        "run_name": f"job-{seed}",
        "paths": {"output_dir": "/runs/x"},
        "planner": {"_target_": "BestOfNPlanner", "n": n, "seed": seed},
        "scorer": {"_target_": "RewardScorer", "path": ckpt},
        "rm_ckpt": ckpt,
        "logger": {"csv": {"save_dir": "/runs/x"}},
    }


def test_stage_settings_leave_out_places_and_interpolated_keys(tmp_path):
    # interpolated: a key (planner.n) or a whole node (synthesis.kit, every key under it)
    config = _plan_config(8, 3, "/ckpt/best.ckpt")
    config["benchmark"] = {"name": "game24", "planning": {"best_of_n": 8}}
    config["out"] = "/runs/x/sub"  # a value under a place is a place too
    config["synthesis"] = {"kit": {"_target_": "Game24Kit", "seed": 3}}
    unresolved = {**config, "planner": {**config["planner"], "n": "${benchmark.planning.best_of_n}",
                                        "seed": "${seed}"},
                  "synthesis": {"kit": "${benchmark.synthesis_kit}"}}  # fmt: skip
    run = _run_dir(tmp_path / "p", "plan", config, unresolved,
                   choices={"planner": "best_of_n", "loss": "hinge", "hydra/launcher": "basic",
                            "logger": "csv", "llm@synthesizer_llm": "smollm2",
                            "objective": "fewer_actions", "experiment": "armap_ablation"})  # fmt: skip
    got = read_settings(run)
    assert got.values == {
        "seed": "3",
        "limit": "10",
        "planner._target_": "BestOfNPlanner",
        "scorer._target_": "RewardScorer",
        "benchmark.name": "game24",
        "benchmark.planning.best_of_n": "8",
    }
    # choices of groups the stage's config holds (plan has no loss, no synthesizer_llm; the
    # objective's package is planner.objective), and the experiment, which may set any key
    assert got.choices == {
        "planner": "best_of_n",
        "objective": "fewer_actions",
        "experiment": "armap_ablation",
    }


def test_stage_settings_without_hydra_name_groups_by_their_class(tmp_path):
    run = _run_dir(tmp_path / "p", "plan", _plan_config(4, 0, "/c.ckpt"))
    got = read_settings(run)
    assert got.choices == {"planner": "BestOfNPlanner", "scorer": "RewardScorer"}
    # no .hydra: nothing is known to be interpolated; places are conf/hydra/default.yaml's
    assert got.values["planner.n"] == "4" and got.values["planner.seed"] == "0"
    assert not {"scorer.path", "rm_ckpt", "run_name", "logger.csv.save_dir"} & set(got.values)


def test_lineage_follows_inputs_upstream_and_merges_settings(tmp_path):
    explore = _run_dir(tmp_path / "e", "explore", {"seed": 0, "explore": {"num_per_task": 4}},
                       choices={"explore": "default"})  # fmt: skip
    synth = _run_dir(tmp_path / "s", "synthesize",
                     {"seed": 0, "synthesis": {"_target_": "Rule"}, "limit": None},
                     choices={"synthesis": "rule"},
                     inputs={"trajectories": {"path": str(explore / "trajectories.jsonl")}})  # fmt: skip
    train = _run_dir(tmp_path / "t", "train",
                     {"seed": 0, "train": {"data": {"train_fraction": 0.5}}}, choices={},
                     inputs={"triplets": {"path": str(synth / "triplets.jsonl")}})  # fmt: skip
    plan = _run_dir(tmp_path / "p", "plan", {"seed": 0, "limit": 10}, choices={})
    chain, why = lineage(plan, train)
    assert [s for s, _ in chain] == ["plan", "train", "synthesize", "explore"] and why == ""
    got = run_settings(chain)
    assert got.values["train.data.train_fraction"] == "0.5"
    assert got.values["explore.num_per_task"] == "4" and got.choices["synthesis"] == "rule"
    # a key two stages share: one setting; an upstream stage's other value is its own
    assert got.values["seed"] == "0" and got.values["limit"] == "10"
    assert got.values["synthesize:limit"] == "null"
    # a run whose input is gone: the chain stops there, and says why
    gone = _run_dir(tmp_path / "t2", "train", {"seed": 0},
                    inputs={"triplets": {"path": str(tmp_path / "deleted" / "triplets.jsonl")}})  # fmt: skip
    chain, why = lineage(plan, gone)
    assert len(chain) == 2 and "deleted" in why and "not found" in why


def _ids(**identity: str) -> dict[str, str]:
    return {"benchmark": "game24", "planner": "best_of_n", "scorer": "rm", **identity}


def test_axes_are_what_differs_and_group_choices_own_their_keys():
    runs = [
        Settings({"planner": "best_of_n", "synthesis": "rule"},
                 {"planner.n": "8", "synthesis.k": "1", "train.lr": "1e-5", "seed": "0"}),
        Settings({"planner": "mcts", "synthesis": "llm"},
                 {"planner.n": "4", "synthesis.k": "2", "train.lr": "1e-5", "seed": "1"}),
    ]  # fmt: skip
    identity = [_ids(), _ids(planner="mcts")]
    # synthesis= differs: a column; its own keys and the planner's follow from the choices;
    # the seed is a repeat
    assert axes(runs, identity, ["seed"]) == ["synthesis"]
    assert axes(runs, identity, []) == ["synthesis", "seed"]
    # the same choices, another value: the key is an axis
    runs.append(Settings({"planner": "best_of_n", "synthesis": "rule"},
                         {"planner.n": "16", "synthesis.k": "1", "train.lr": "1e-4"}))  # fmt: skip
    identity.append(_ids())
    assert axes(runs, identity, ["seed"]) == ["synthesis", "planner.n", "train.lr"]
    # a key only some runs have (no reward model, no train run) is no axis by its absence
    assert axes([Settings({}, {"train.lr": "1"}), Settings({}, {})], [_ids(), _ids()], []) == []


def test_an_identity_column_owns_its_groups_keys_without_hydra():
    # Runs composed without .hydra: the report's own columns (planner, scorer) tell the
    # planners apart, so their settings follow from them.
    runs = [Settings({}, {"planner.n": "8", "scorer.batch": "4"}),
            Settings({}, {"planner.n": "1", "scorer.batch": "4"})]  # fmt: skip
    assert axes(runs, [_ids(), _ids(planner="greedy")], []) == []
    assert axes(runs, [_ids(), _ids()], []) == ["planner.n"]


def test_an_objective_owns_its_keys_under_the_planner():
    # objective options are packaged at planner.objective: their weight follows the choice
    runs = [Settings({"objective": "fewer_actions"}, {"planner.objective.weight": "0.1"}),
            Settings({"objective": "lower_price"}, {"planner.objective.weight": "1.0"})]  # fmt: skip
    identity = [_ids(objective="fewer_actions(w=0.1)"), _ids(objective="lower_price(w=1)")]
    assert axes(runs, identity, []) == []


def test_an_experiment_choice_owns_every_key():
    runs = [Settings({"experiment": "a"}, {"train.lr": "1"}),
            Settings({"experiment": "b"}, {"train.lr": "2"})]  # fmt: skip
    assert axes(runs, [_ids(), _ids()], []) == ["experiment"]


def test_pool_entries_match_keys_under_and_ending_in_them():
    assert pooled("seed", ["seed"]) and pooled("planner.seed", ["seed"])
    assert pooled("synthesize:seed", ["seed"])
    assert not pooled("seedling", ["seed"]) and not pooled("seed", [])
    assert pooled("train.data.train_fraction", ["train.data"])
    assert not pooled("x.train.data", ["train.data"])


def _row(**cols: str) -> dict[str, str]:
    return {"benchmark": "game24", "split": "test", "planner": "best_of_n", "scorer": "rm",
            "policy": "random", **cols}  # fmt: skip


def test_pick_baseline_defaults_to_scorer_none_and_says_why_not():
    columns = ["benchmark", "split", "planner", "scorer", "policy"]
    rows = [_row(scorer="none", planner="sampling"), _row(), _row(scorer="oracle")]
    pairs, note = pick_baseline(rows, columns, {})
    assert pairs == {1: 0, 2: 0} and note == "baseline: scorer=none"
    pairs, note = pick_baseline(rows[1:], columns, {})
    assert pairs == {} and "no row has scorer=none" in note
    pairs, note = pick_baseline(rows, columns, {"loss": "hinge"})
    assert pairs == {} and "not a column" in note


def test_pick_baseline_takes_the_closest_row_of_the_same_benchmark_and_names_ties():
    columns = ["benchmark", "split", "planner", "scorer", "policy", "f"]
    rows = [
        _row(scorer="none", planner="sampling", f="0.5"),
        _row(scorer="none", planner="greedy", f="0.5"),
        _row(planner="sampling", f="0.5"),  # agrees with row 0 beyond the baseline key
        _row(planner="mcts", f="0.5"),  # agrees with both equally: no comparison
        _row(benchmark="webshop", planner="sampling", f="0.5"),  # no baseline on its benchmark
    ]
    pairs, note = pick_baseline(rows, columns, {"scorer": "none"})
    assert pairs == {2: 0}
    assert "rows 4 match several baseline rows equally" in note
    # a value typed on the command line (a number) matches the column's text
    pairs, _ = pick_baseline([_row(f="0.5"), _row(f="1.0")], columns, {"f": 0.5})
    assert pairs == {1: 0}
