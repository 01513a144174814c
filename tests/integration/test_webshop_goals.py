"""ARMAP's WebShop pipeline on the mini catalog: ``arm-exp goals`` -> explore the synthesized goals
(``split=extra``) -> synthesize triplets ranked by the env reward."""

from __future__ import annotations

import json
import shutil

import pytest

from arm_exp.artifacts import load_manifest
from arm_exp.envs.webshop import WebShopEnv
from arm_exp.errors import ConfigError
from arm_exp.stages import explore, get, goals, synthesize, train
from arm_exp.synthesis.llm import LLMSynthesizer
from arm_exp.synthesis.webshop import WebShopKit
from arm_exp.synthesis.webshop_goals import WebShopGoalGenerator
from arm_exp.types import Trajectory, Triplet
from tests.conftest import run_stage
from tests.unit.test_webshop_goals import _FixedLLM

pytest.importorskip("bm25s")

RULE = ["benchmark=webshop", "goal_writer=rule", "goals.num_products=12", "goals.batch_size=5"]


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def goal_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("goals") / "run"
    metrics = run_stage(goals, "goals", RULE, out)
    return out, metrics


def test_rule_goals_stage_writes_goals_attempts_and_manifest(goal_run):
    out, m = goal_run
    recs = _lines(out / "goals.jsonl")
    assert m["goals/n_requests"] == 12 and m["goals/n_valid"] == len(recs) == 12
    assert m["goals/valid_share"] == 1.0 and m["goals/valid_by_writer/synthetic_rule"] == 12
    assert 1 <= m["goals/mean_attributes"] <= 2 and 0 <= m["goals/mean_options"] <= 2
    assert all(r["goal"]["source"] == "synthetic_rule" for r in recs)
    assert all(a["status"] == "ok" for a in _lines(out / "goal_attempts.jsonl"))
    manifest = load_manifest(out)
    assert manifest["complete"] and manifest["counts"]["goals"] == 12
    assert manifest["counts"]["benchmark"] == "webshop_mini"
    # A finished run is reused, not recomputed.
    assert run_stage(goals, "goals", RULE, out) == m


def test_goals_stage_resumes_after_a_crash_byte_identical(goal_run, tmp_path, monkeypatch):
    out, _ = goal_run
    real = WebShopGoalGenerator.generate
    calls = {"n": 0}

    def crash_on_second_batch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(WebShopGoalGenerator, "generate", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run_stage(goals, "goals", RULE, tmp_path / "r")
    assert len(_lines(tmp_path / "r" / "goal_attempts.jsonl")) == 5
    assert not load_manifest(tmp_path / "r")["complete"]
    monkeypatch.setattr(WebShopGoalGenerator, "generate", real)
    m = run_stage(goals, "goals", RULE, tmp_path / "r")
    assert load_manifest(tmp_path / "r")["counts"]["resumed"] == 5 and m["goals/n_valid"] == 12
    for name in ("goals.jsonl", "goal_attempts.jsonl"):
        assert (tmp_path / "r" / name).read_bytes() == (out / name).read_bytes()


def test_goals_need_a_benchmark_with_a_goal_generator(make_cfg, tmp_path):
    with pytest.raises(ValueError, match="goal_generator"):
        goals.run(make_cfg("goals", ["benchmark=game24", "goal_writer=rule"], tmp_path / "g"))


def test_explore_and_synthesize_the_synthesized_goals(goal_run, tmp_path):
    out, _ = goal_run
    goals_file = f"benchmark.env.goals_file={out / 'goals.jsonl'}"
    em = run_stage(
        explore,
        "explore",
        ["benchmark=webshop", "split=extra", goals_file, "explore.num_per_task=4", "seed=0"],
        tmp_path / "e",
    )
    trajs = [Trajectory.from_dict(r) for r in _lines(tmp_path / "e" / "trajectories.jsonl")]
    by_id = {r["id"]: r["goal"] for r in _lines(out / "goals.jsonl")}
    assert len(trajs) == 48 and em["explore/extra/n_trajectories"] == 48
    for t in trajs:
        assert t.task_id in by_id and t.intent == by_id[t.task_id]["instruction_text"]
        assert t.meta["goal"] == by_id[t.task_id] and t.meta["goal_source"] == "synthetic_rule"
        assert t.benchmark == "webshop_mini" and 0.0 <= t.score <= 1.0
    # The env's reward scores these goals: some purchases score, not all perfectly.
    assert 0.0 < em["explore/extra/mean_score"] < 1.0

    sm = run_stage(
        synthesize,
        "synthesize",
        ["benchmark=webshop", f"input_dir={tmp_path / 'e'}", "synthesis=rule"],
        tmp_path / "s",
    )
    triplets = [Triplet.from_dict(r) for r in _lines(tmp_path / "s" / "triplets.jsonl")]
    assert sm["synth/n_triplets"] == len(triplets) > 0
    for t in triplets:
        assert t.intent == by_id[t.positive.task_id]["instruction_text"]  # the goal, no relabel
        # ARMAP's pairs: runs paired off per goal, the higher reward positive, one negative
        assert t.negative.score < t.positive.score and t.meta["negative_kind"] == "natural"
        assert t.negative.task_id == t.positive.task_id
    assert len({t.positive.id for t in triplets}) == len(triplets) <= 48 // 2

    # Trained on the mini catalog's triplets: tagged as the report names it (webshop_mini).
    run_stage(train, "train", ["benchmark=webshop", f"input_dir={tmp_path / 's'}",
                               "trainer.max_steps=1", "reward_model.max_length=32",
                               "trainer.enable_progress_bar=false"], tmp_path / "t")  # fmt: skip
    trained = load_manifest(tmp_path / "t")
    assert trained["counts"]["benchmark"] == "webshop_mini"
    assert (
        "benchmark:webshop_mini" in trained["tags"] and "benchmark:webshop" not in trained["tags"]
    )

    # The llm strategy: no intent call (goals are the intents); LLM-edited negatives replayed.
    env = WebShopEnv(cache_dir=str(tmp_path / "cache"))
    positive = max(trajs, key=lambda t: t.score)
    edited = "\n".join(
        f"Action: {a}\nObservation: x" for a in [*positive.actions[:2], "click[buy now]"]
    )
    llm = _FixedLLM([edited])
    kit = WebShopKit(env, pairs=False)  # the best run vs every run 0.1 below it (our option)
    synth = LLMSynthesizer(kit, llm, negatives_per_positive=2, natural_negatives=1)
    synth.prepare(trajs)
    [res] = synth.synthesize([positive])
    assert llm.counters()["llm_calls"] == 1  # negatives only
    assert all(t.intent == positive.intent for t in res.triplets)
    llm_negs = [t.negative for t in res.triplets if t.meta["negative_kind"] == "llm_edited"]
    assert all(n.meta["replayed"] and n.score <= positive.score - 0.1 for n in llm_negs)
    dropped = sum(n for k, n in res.dropped.items() if k.startswith("llm_negative"))
    assert len(llm_negs) + dropped == 2


@pytest.mark.slow  # the embedded SmolLM2 writes 2 instructions on CPU (~1 min on 2 busy cores)
def test_llm_goal_writer_with_the_embedded_model(make_cfg, tmp_path):
    m = goals.run(
        make_cfg(
            "goals",
            [
                "benchmark=webshop",
                "goal_writer=llm",
                "llm=smollm2_cpu",
                "limit=2",
                "goal_writer.shots=3",
                "goal_writer.max_tokens=48",
            ],
            tmp_path / "llm",
        )
    )
    attempts = _lines(tmp_path / "llm" / "goal_attempts.jsonl")
    assert m["goals/n_requests"] == len(attempts) == 2 and m["goals/llm_calls"] == 1
    assert all(a["writer"] == "synthetic_llm" and a["text"] is not None for a in attempts)
    assert m["goals/n_valid"] == sum(a["status"] == "ok" for a in attempts)


def test_explore_key_follows_the_goals_file_contents(goal_run, tmp_path, make_cfg):
    """New goals at the same path must not be served from a stale explore cache."""
    out, _ = goal_run
    goals_file = tmp_path / "goals.jsonl"
    goals_file.write_bytes((out / "goals.jsonl").read_bytes())
    overrides = ["benchmark=webshop", "split=extra", f"benchmark.env.goals_file={goals_file}"]
    before = (
        get("explore").key_spec(make_cfg("explore", overrides)).key(make_cfg("explore", overrides))
    )
    goals_file.write_text(goals_file.read_text().splitlines()[0] + "\n")
    after = (
        get("explore").key_spec(make_cfg("explore", overrides)).key(make_cfg("explore", overrides))
    )
    assert before != after
    from_run = [*overrides[:2], f"benchmark.env.goals_file={out / 'goals.jsonl'}"]
    cfg = make_cfg("explore", from_run)
    assert get("explore").key_spec(cfg).inputs["goals_file"] == out / "goals.jsonl"


def test_explore_refuses_goals_made_on_another_catalog(goal_run, tmp_path):
    """Goals name products of the catalog they were made on: a goals run on the full catalog
    (its manifest says ``webshop``; this box has only the mini catalog, so the run is copied
    and relabelled) must not be explored on the mini one, where its products do not exist."""
    out, _ = goal_run
    other = tmp_path / "goals_full"
    shutil.copytree(out, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["counts"]["benchmark"] = "webshop"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="made on 'webshop' but this env is 'webshop_mini'"):
        run_stage(
            explore,
            "explore",
            [
                "benchmark=webshop",
                "split=extra",
                f"benchmark.env.goals_file={other / 'goals.jsonl'}",
            ],
            tmp_path / "e",
        )
