"""``arm-exp explore benchmark=webshop`` on the bundled mini catalog, with both explorers."""

from __future__ import annotations

import json

import pytest

from arm_exp.agents.policy import LLMPolicy
from arm_exp.agents.webshop import WebShopAgent
from arm_exp.envs.webshop import WebShopEnv
from arm_exp.llm.base import BaseLLM, Generation
from arm_exp.rollout import EpisodeJob, Rollouts
from arm_exp.stages import explore
from arm_exp.types import Trajectory

pytest.importorskip("bm25s")


def _read(path):
    return [Trajectory.from_dict(json.loads(x)) for x in path.read_text().splitlines()]


def test_random_explorer_on_the_mini_catalog(make_cfg, tmp_path):
    over = [
        "benchmark=webshop",
        "explorer=random",
        "split=test",
        "limit=6",
        "explore.num_per_task=3",
        "seed=1",
    ]
    metrics = explore.run(make_cfg("explore", over, tmp_path / "a"))
    trajs = _read(tmp_path / "a" / "trajectories.jsonl")
    assert len(trajs) == 18 and metrics["explore/test/n_trajectories"] == 18
    for t in trajs:
        assert t.benchmark == "webshop_mini"  # labelled: not WebShop numbers
        assert t.steps[0].action.startswith("search[") and t.meta["task_type"] in {
            "beauty", "electronics", "fashion", "food", "furniture",
        }  # fmt: skip
        assert t.done and 0.0 <= t.score <= 1.0 and t.success == (t.score == 1.0)
        assert sum(s.reward for s in t.steps) == pytest.approx(t.score)
        bought = t.steps[-1].action == "click[buy now]"
        assert bought or (len(t.steps) == 10 and t.score == 0.0)
        if bought:
            assert t.steps[-1].info["purchased_asin"] and "reward_r_type" in t.steps[-1].info
    assert metrics["explore/test/purchases"] >= 1 and metrics["explore/test/searches"] >= 18
    # Same seed, same bytes.
    explore.run(make_cfg("explore", over, tmp_path / "b"))
    assert (tmp_path / "a" / "trajectories.jsonl").read_bytes() == (
        tmp_path / "b" / "trajectories.jsonl"
    ).read_bytes()


@pytest.mark.slow  # ~1-4 min on 2 busy cores: ~900-token prompts through the CPU model
def test_llm_explorer_with_embedded_model(make_cfg, tmp_path, smollm2):
    cfg = make_cfg(
        "explore",
        [
            "benchmark=webshop",
            "explorer=llm",
            "split=test",
            "task_ids=[0]",
            "explore.num_per_task=2",
            "benchmark.max_steps=2",
            "benchmark.agent.max_tokens=32",
            "explore.invalid_action_retries=0",
        ],
        tmp_path / "llm",
    )
    metrics = explore.run(cfg)
    trajs = _read(tmp_path / "llm" / "trajectories.jsonl")
    assert [t.id for t in trajs] == ["0#0", "0#1"]
    assert all(1 <= len(t.steps) <= 2 and t.done for t in trajs)
    assert metrics["explore/test/llm_calls"] >= 1 and metrics["explore/test/completion_tokens"] > 0


class _ScriptedLLM(BaseLLM):
    """Answers from a script keyed by what the latest observation shows (a test double for a
    model that follows the prompt's format)."""

    def generate(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=128, stop=None, seed=None
    ):
        gens = []
        for p in prompts:
            last = p[-1]["content"]
            if '"has_search_bar": true' in last:
                text = "Thought: I search for it.\nAction: search[bedspread set lightweight soft microfiber king]"
            elif "Page 1 (Total" in last:
                text = "Thought: This one.\nAction: click[B0PO44UJDW]"
            elif '"king"' in last and len(p) < 7:
                text = "Thought: size king.\nAction: click[king]\nObservation: made up"
            else:
                text = "**Action:** click[Buy Now]"
            gens.append(Generation([text] * n))
        self._record(gens, 0.0)
        return gens


def test_llm_policy_drives_the_env_through_the_agent(tmp_path):
    runner = Rollouts(
        lambda: WebShopEnv(cache_dir=str(tmp_path)),
        LLMPolicy(_ScriptedLLM(), WebShopAgent()),
        num_envs=2,
    )
    trajs = list(runner.run([EpisodeJob(f"0#{k}", "0", k) for k in range(3)]))
    assert len(trajs) == 3
    for t in trajs:
        assert t.actions == [
            "search[bedspread set lightweight soft microfiber king]",
            "click[B0PO44UJDW]",
            "click[king]",
            "click[Buy Now]",
        ]
        assert t.steps[0].thought == "I search for it." and t.success and t.score == 1.0


def test_explore_then_rule_synthesis_on_the_mini_catalog(tmp_path):
    from arm_exp.stages import explore, synthesize
    from arm_exp.types import Triplet
    from tests.conftest import run_stage

    run_stage(
        explore,
        "explore",
        ["benchmark=webshop", "split=test", "limit=30", "explore.num_per_task=4", "seed=2"],
        tmp_path / "e",
    )

    def synth(out: str, *extra: str) -> tuple[dict, list[Triplet]]:
        m = run_stage(
            synthesize,
            "synthesize",
            ["benchmark=webshop", f"input_dir={tmp_path / 'e'}", "synthesis=rule", *extra],
            tmp_path / out,
        )
        lines = (tmp_path / out / "triplets.jsonl").read_text().splitlines()
        return m, [Triplet.from_dict(json.loads(x)) for x in lines]

    # ARMAP's pairs (the default): two runs of a goal, the higher reward is the positive
    m, triplets = synth("s")
    assert m["synth/n_triplets"] == len(triplets) > 0
    for t in triplets:
        assert t.negative.score < t.positive.score
        assert t.positive.task_id == t.negative.task_id and t.benchmark.startswith("webshop")
    # pairs=false: a positive scores at least 0.5 and its negative at least 0.1 below it
    m, triplets = synth("s2", "benchmark.synthesis_kit.pairs=false")
    assert m["synth/n_triplets"] == len(triplets) > 0
    for t in triplets:
        assert t.positive.score >= 0.5 and t.negative.score <= t.positive.score - 0.1
        assert t.positive.task_id == t.negative.task_id and t.benchmark.startswith("webshop")
