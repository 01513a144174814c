"""ARMAP's WebShop goal synthesis on the mini catalog: sampling, writers, validation, and the
WebShop synthesis kit's replayed LLM-edited negatives."""

from __future__ import annotations

import json
import random

import pytest

from arm_exp.envs.webshop import WebShopEnv
from arm_exp.envs.webshop_data import Goal, make_product_goal
from arm_exp.envs.webshop_reward import purchase_reward
from arm_exp.llm.base import BaseLLM, Generation
from arm_exp.synthesis.webshop import WebShopKit
from arm_exp.synthesis.webshop_goals import (
    SOURCE_LLM,
    SOURCE_RULE,
    LLMInstructionWriter,
    RuleInstructionWriter,
    WebShopGoalGenerator,
    parse_instruction,
)
from arm_exp.types import Step, Trajectory

pytest.importorskip("bm25s")
pytest.importorskip("rapidfuzz")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return WebShopEnv(cache_dir=str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def gen(env):
    # The mini catalog's 707 goals leave 36 products outside test500; exclude test (0-199).
    return WebShopGoalGenerator(env, exclude_splits=["test"])


def test_requests_sample_outside_the_excluded_goals_with_1_2_attributes_0_2_options(gen, env):
    reqs = gen.requests(40, 2, seed=3)
    assert len(reqs) == 80 and len({r.id for r in reqs}) == 80
    excluded = {env.goal(t).asin for t in env.task_ids("test")}
    assert not {r.asin for r in reqs} & excluded
    for r in reqs:
        p = env.catalog.by_asin[r.asin]
        assert 1 <= len(r.attributes) <= 2 and set(r.attributes) <= set(p.Attributes)
        assert 0 <= len(r.options) <= 2
        assert all(v in p.options[n] for n, v in r.options.items())
        assert r.price_upper > env.catalog.prices[r.asin]
    assert {len(r.attributes) for r in reqs} == {1, 2} and {len(r.options) for r in reqs} >= {0, 1}
    assert gen.requests(40, 2, seed=3) == reqs  # seeded
    assert gen.requests(40, 2, seed=4) != reqs


def test_rule_goals_validate_and_score_1_for_the_target(gen, env):
    reqs = gen.requests(25, 1, seed=0)
    outcomes = gen.generate(reqs, RuleInstructionWriter(seed=0), [])
    assert all(o.goal is not None for o in outcomes), [o.reason for o in outcomes]
    for o in outcomes:
        goal = o.goal
        assert goal.source == SOURCE_RULE and goal.asin == o.request.asin
        assert goal.attributes == o.request.attributes and goal.goal_options == o.request.options
        assert goal.instruction_text.startswith(parse_instruction(o.text))
        env.reset_goal(goal)
        assert env.reward_for(goal.asin, o.request.options).reward == 1.0
    with_options = [o for o in outcomes if o.request.options]
    assert with_options
    o = with_options[0]
    env.reset_goal(o.goal)
    assert env.reward_for(o.request.asin, {}).reward < 1.0  # the options are checked


def test_synthesized_goals_score_exactly_as_human_goals(env):
    """A human goal rebuilt as a synthesized one (dict options, same attributes and bound)
    gives the same reward for these purchases: the dict's options are matched as "name value"
    (WebShop's way), which a chosen value equal to the goal's still matches."""
    rng = random.Random(0)
    for idx in rng.sample(range(len(env.catalog.goals)), 15):
        human = env.catalog.goals[idx]
        product = env.catalog.by_asin[human.asin]
        named = {}
        for v in human.option_values():
            name = next((n for n, vs in product.options.items() if v in vs), f"opt{len(named)}")
            named.setdefault(name, v)
        if len(named) != len(human.option_values()):
            continue
        synth = make_product_goal(
            product,
            human.instruction_text.split(", and price lower than")[0],
            human.attributes,
            named,
            price_upper=human.price_upper,
        )
        assert synth.instruction_text == human.instruction_text
        for p in rng.sample(env.catalog.products, 8) + [product]:
            price = env.catalog.prices[p.asin]
            chosen = {n: vs[0] for n, vs in p.options.items() if vs}
            a = purchase_reward(p, human, price, chosen, env.nouns)
            b = purchase_reward(p, synth, price, chosen, env.nouns)
            assert a.reward == b.reward


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("a chair", "too_short"),
        ("i need {type} that is {attrs} {opts} under 30 dollars", "states_price"),
        ("i need something that is {attrs} {opts}", "missing_product_type"),
        ("i need {type} in {opts}", "missing_attribute"),
        ("i need {type} that is {attrs}", "missing_option"),
        ("Instruction: I need {type} that is {attrs} {opts}.", None),
    ],
)
def test_validation_names_why_a_text_is_dropped(gen, text, reason):
    req = next(r for r in gen.requests(36, 1, seed=1) if r.options and r.attributes)
    filled = text.format(
        type=req.product_type,
        attrs=" and ".join(req.attributes),
        opts=" ".join(req.options.values()),
    )
    out = gen.validate(req, filled, SOURCE_LLM)
    assert out.reason == reason
    assert (out.goal is not None) == (reason is None)


class _FixedLLM(BaseLLM):
    """Answers every prompt with the next text of a list (and records the prompts)."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__()
        self.texts = texts
        self.prompts: list = []
        self.seeds: list = []

    def generate(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=128, stop=None, seed=None
    ):
        self.prompts += list(prompts)
        self.seeds.append(seed)
        gens = [Generation([self.texts[i % len(self.texts)]] * n) for i in range(len(prompts))]
        self._record(gens, 0.0)
        return gens


def test_llm_writer_prompts_with_human_shots_and_falls_back_to_rules(gen):
    reqs = gen.requests(3, 1, seed=2)
    shots = gen.shots(4, seed=2)
    assert len(shots) == 4 and all(s.instruction and s.request.attributes for s in shots)
    good = f"Instruction: i want {reqs[0].product_type} that is {' and '.join(reqs[0].attributes)}"
    good += " " + " ".join(reqs[0].options.values())
    llm = _FixedLLM([good, "", "???"])
    writer = LLMInstructionWriter(llm, shots=4, rule_fallback=True, seed=5)
    outcomes = gen.generate(reqs, writer, shots)
    prompt = llm.prompts[0]
    assert prompt[0]["role"] == "system" and len(prompt) == 1 + 2 * 4 + 1
    assert prompt[2]["content"] == shots[0].instruction and "Attributes:" in prompt[-1]["content"]
    assert outcomes[0].goal is not None and outcomes[0].goal.source == SOURCE_LLM
    assert outcomes[0].fallback_after is None
    for o in outcomes[1:]:  # empty / unparseable LLM text: the rule writer's goal, counted
        assert o.goal is not None and o.goal.source == SOURCE_RULE
        assert o.fallback_after in ("empty", "too_short")
    # The batch seed comes from the batch's first request, not a call count (resumable).
    writer.write(reqs, shots)
    assert llm.seeds[0] == llm.seeds[1]


# -- the WebShop synthesis kit: LLM-edited negatives replayed on the goal -----------------------
def _positive(env: WebShopEnv) -> Trajectory:
    goal = env.goal("0")  # bedspread set, king, B0PO44UJDW (see test_webshop_env)
    first = env.reset("0")
    steps = []
    for a in ["search[bedspread set king]", "click[b0po44ujdw]", "click[king]", "click[buy now]"]:
        obs, r, done, info = env.step(a)
        steps.append(Step(a, obs, r, done, "", {"score": info["score"]}))
    assert steps[-1].done and info["score"] == 1.0
    return Trajectory(
        "0#0", env.benchmark, "0", goal.instruction_text, first, steps, 1.0, True,
        {"goal": goal.to_dict()},
    )  # fmt: skip


def _edited(*actions: str) -> str:
    return "\n".join(f"Action: {a}\nObservation: made up" for a in actions)


def test_kit_replays_llm_edited_negatives_and_ranks_them_by_reward(env):
    kit = WebShopKit(env)
    assert kit.llm_intents is False
    pos = _positive(env)
    # Wrong option: the env scores it below the positive, with its own observations.
    neg = kit.parse_negative(
        _edited("search[bedspread set king]", "click[b0po44ujdw]", "click[buy now]"), pos, "llm"
    )
    assert isinstance(neg, Trajectory) and neg.meta["replayed"]
    assert neg.score == 0.75 and not neg.success and neg.steps[-1].done
    assert "made up" not in neg.steps[0].observation and kit.validate_negative(pos, neg) is None
    # The same purchase as the positive, by another path: a tie, dropped.
    detour = ["click[description]", "click[< prev]"]
    tie = kit.parse_negative(_edited(*pos.actions[:2], *detour, *pos.actions[2:]), pos, "llm")
    assert isinstance(tie, Trajectory) and tie.score == 1.0
    assert kit.validate_negative(pos, tie) == "llm_negative_not_worse"
    assert kit.parse_negative(_edited("click[nothing]"), pos, "llm") == (
        "llm_negative_invalid_action"
    )
    assert kit.parse_negative("no actions here", pos, "llm") == "negative_unparseable"
    # Without the goal in meta, the env's own goal of the task id is used.
    again = kit.replay_negative(neg, Trajectory(**{**pos.__dict__, "meta": {}}))
    assert isinstance(again, Trajectory) and again.score == 0.75


def test_goals_file_lines_are_what_the_env_reads(gen, tmp_path):
    outcomes = gen.generate(gen.requests(3, 1, seed=0), RuleInstructionWriter(), [])
    path = tmp_path / "goals.jsonl"
    path.write_text(
        "".join(json.dumps({"id": o.request.id, "goal": o.goal.to_dict()}) + "\n" for o in outcomes)
    )
    extra = WebShopEnv(cache_dir=str(tmp_path / "c"), goals_file=str(path))
    assert extra.task_ids("extra") == [o.request.id for o in outcomes]
    assert all(isinstance(extra.goal(o.request.id), Goal) for o in outcomes)
