"""MCTS measured as a search: guidance finds a deep target, a broken backup does not; the answer
does not depend on an offset of the reward model; ARMAP's constants and expansion modes."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

import pytest

from arm_exp.agents.base import AgentContext, Proposal
from arm_exp.agents.game24 import Game24Agent
from arm_exp.agents.policy import LLMPolicy, RandomPolicy
from arm_exp.envs.game24 import Game24Env
from arm_exp.llm.base import Generation
from arm_exp.planning.base import PlanningError
from arm_exp.planning.mcts import ARMAP_C, MCTSPlanner
from arm_exp.reward.model import Calibration
from arm_exp.types import Trajectory


class DeepTree:
    """A binary tree of depth ``len(target)``; moves ``a``/``b``; the only success is ``target``."""

    benchmark = "tree"
    cheap_snapshot = True

    def __init__(self, target: str) -> None:
        self.target = target
        self.path = ""
        self.steps = 0

    def task_ids(self, split: str) -> list[str]:
        return ["t"]

    def reset(self, task_id: str) -> str:
        self.path = ""
        return "at the root"

    def intent(self) -> str:
        return "find the target leaf"

    def step(self, action: str):
        self.steps += 1
        if action not in ("a", "b") or len(self.path) >= len(self.target):
            return "no such move", 0.0, False, {"invalid": True, "score": 0.0, "success": False}
        self.path += action
        done = len(self.path) == len(self.target)
        ok = done and self.path == self.target
        return f"at {self.path}", float(ok), done, {"score": float(ok), "success": ok}

    def valid_actions(self) -> list[str]:
        return [] if len(self.path) >= len(self.target) else ["a", "b"]

    def snapshot(self) -> str:
        return self.path

    def restore(self, snapshot: str) -> None:
        self.path = snapshot

    def counters(self) -> dict[str, float]:
        return {"env_steps": self.steps}

    def close(self) -> None:
        pass


class CalibratedRM:
    """What a trained reward model has besides ``score``: its stored validation scores
    (``calibration``), which give Reflexion's threshold and MCTS's unit values."""

    calibration: Calibration

    def threshold(self, quantile: float, of: str = "negative") -> float:
        return self.calibration.threshold(quantile, of)

    def unit(self, scores: Sequence[float]) -> list[float]:
        return self.calibration.unit(scores)

    def counters(self) -> dict[str, float]:
        return {}


class PrefixRM(CalibratedRM):
    """A reward model that knows the way: the share of the target matched from the root, in
    raw units shifted by ``shift`` (negative for most trajectories, as real RM logits are), with
    its validation scores shifted alike."""

    def __init__(self, target: str, shift: float = -0.5) -> None:
        self.target = target
        self.shift = shift
        self.calibration = Calibration(
            positive=[1.0 + shift], negative=[i / len(target) + shift for i in range(len(target))]
        )

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        out = []
        for t in trajectories:
            path, n = "".join(t.actions), 0
            while n < len(path) and path[n] == self.target[n]:
                n += 1
            out.append(n / len(self.target) + self.shift)
        return out


class FlippedBackup(MCTSPlanner):
    """The mutation issue 20 found surviving: the backup stores the negated value."""

    def _backup(self, path, value, bonus, leaf_terminal):
        super()._backup(path, -value, bonus, leaf_terminal)


class NoBackup(MCTSPlanner):
    """Visits are counted, values never backed up: UCT degenerates to visit balancing."""

    def _backup(self, path, value, bonus, leaf_terminal):
        for node in path:
            node.visits += 1


def _wins(planner_cls: type[MCTSPlanner], target: str = "babbab") -> int:
    wins = 0
    for seed in range(20):
        planner = planner_cls(rollouts=40, expansion=2, seed=seed)
        ep = planner.plan("t", DeepTree(target), RandomPolicy(), PrefixRM(target))
        wins += ep.success
    return wins


def test_reward_guidance_finds_a_deep_target_and_broken_backups_do_not():
    """Depth 6 (64 leaves), 40 rollouts, 20 seeds. Measured: correct 17, sign-flipped 8, no
    backup 4; blind search finds a given leaf with 40 random rollouts in about 47% of seeds."""
    correct, flipped, missing = _wins(MCTSPlanner), _wins(FlippedBackup), _wins(NoBackup)
    assert correct >= 15, correct
    assert flipped <= 11 and missing <= 8, (flipped, missing)
    assert correct - max(flipped, missing) >= 6


def test_backup_discounts_once_per_tree_level_as_armap():
    planner = MCTSPlanner(rollouts=1, gamma=0.5)
    from arm_exp.planning.mcts import Node

    root = Node(None, None, 0)
    a = Node("a", root, 1)
    b = Node("b", a, 2)
    planner._backup([root, a, b], 0.8, 0.0, leaf_terminal=True)
    assert (b.value, a.value, root.value) == (0.8, 0.4, 0.2)  # leaf's edge earns the reward
    planner._backup([root, a, b], 1.0, 0.0, leaf_terminal=False)
    # simulated from b: its estimate is one level further down; max of returns kept
    assert (b.value, a.value, root.value) == (0.8, 0.4, 0.2)
    c = Node("c", a, 2)
    planner._backup([root, a, c], 0.6, 0.1, leaf_terminal=False)
    assert c.value == pytest.approx(0.5 * 0.6 + 0.1) and a.visits == 3


class HashRM(CalibratedRM):
    """A deterministic stand-in for a trained reward model on real envs: a pseudo-random score of
    the action sequence (mostly negative, as RM logits are) plus the env's score, and stored
    validation scores; ``shift`` adds a constant to every output and validation score, which
    changes nothing the model prefers."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift
        rng = random.Random(0)
        self.calibration = Calibration(
            positive=[rng.uniform(-2, 1) + shift for _ in range(30)],
            negative=[rng.uniform(-4, 0) + shift for _ in range(30)],
        )

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        out = []
        for t in trajectories:
            h = hashlib.blake2b("|".join(t.actions).encode(), digest_size=8).digest()
            out.append(-3 + 4 * int.from_bytes(h, "big") / 2**64 + t.score + self.shift)
        return out


class SloppyPolicy(RandomPolicy):
    """Random valid steps and, three times in ten, a malformed one (with step feedback, an
    invalid step that costs a turn), so rollouts differ in length, as an LLM's do."""

    def propose(self, contexts, n=1, temperature=None):
        out = super().propose(contexts, n, temperature)
        return [
            [Proposal(["9 * 9 = 80"]) if ctx.rng.random() < 0.3 else p for p in props]
            for ctx, props in zip(contexts, out, strict=True)
        ]


def _answers(value: str, shift: float, tasks: list[str]) -> list[list[str]]:
    env = Game24Env(step_feedback=True)  # the setting the numbers below were measured in
    out = []
    for task in tasks:
        planner = MCTSPlanner(rollouts=30, expansion=4, seed=7, value=value, max_steps=10)
        out.append(planner.plan(task, env, SloppyPolicy(), HashRM(shift)).trajectory.actions)
    return out


def test_mcts_answer_on_game24_does_not_move_when_the_scorer_is_shifted():
    """Issue 16: the same answer for a scorer and the scorer - 10, fixed seed. Measured on
    puzzles 900-919: the old backup (``gamma ** (length - depth) * raw score``) kept its answer
    on 9 of 20, ARMAP's backup on raw scores (``value=raw``) on 8, ``value=cdf`` on 20."""
    tasks = [str(900 + i) for i in range(6)]
    assert _answers("cdf", 0.0, tasks) == _answers("cdf", -10.0, tasks)
    assert _answers("raw", 0.0, tasks) != _answers("raw", -10.0, tasks)


def test_calibrated_unit_is_increasing_bounded_and_shift_invariant():
    cal = Calibration(positive=[0.5, 1.0, 2.0, 2.0], negative=[-3.0, -1.0, 0.0])
    xs = [-50.0, -3.0, -2.0, 0.0, 0.7, 2.0, 3.0, 80.0]
    us = cal.unit(xs)
    assert all(0.0 <= u <= 1.0 for u in us) and all(a < b for a, b in zip(us, us[1:], strict=False))
    # knots at rank / (n + 1); tied scores share their mean rank
    assert us[1] == pytest.approx(1 / 8) and us[5] == pytest.approx(6.5 / 8)
    shifted = Calibration([p - 10 for p in cal.positive], [n - 10 for n in cal.negative])
    assert shifted.unit([x - 10 for x in xs]) == pytest.approx(us)
    with pytest.raises(ValueError, match="planner.value=sigmoid"):
        Calibration().unit([0.0])


def test_armap_constants_are_the_defaults():
    planner = MCTSPlanner()
    assert planner.c == ARMAP_C == pytest.approx(4.5 * math.sqrt(2)) and planner.gamma == 0.9
    assert planner.value == "cdf" and planner.answer_from == "all"
    assert planner.parent_visits_offset == 1
    with pytest.raises(ValueError, match="planner.answer_from"):
        MCTSPlanner(answer_from="done")
    with pytest.raises(ValueError, match="planner.value"):
        MCTSPlanner(value="logit")
    with pytest.raises(ValueError, match="planner.expansion_mode"):
        MCTSPlanner(expansion_mode="beam")


class ScriptedLLM:
    """Answers each prompt with a fixed text (the LLM protocol, no model): checks plumbing."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[dict] = []

    def generate(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=128, stop=None, seed=None
    ):
        self.calls.append({"prompts": prompts, "n": n, "temperature": temperature})
        return [Generation([self.text] * n) for _ in prompts]

    def counters(self) -> dict[str, float]:
        return {"llm_calls": float(len(self.calls))}

    def close(self) -> None:
        pass


def test_propose_expansion_lists_next_steps_from_one_generation():
    listing = (
        "4 + 5 = 9 (left: 6 9 10)\n10 - 6 = 4 (left: 4 4 5)\nsome prose\n5 * 6 = 30 (left: 4 10 30)"
    )
    llm = ScriptedLLM(listing)
    policy = LLMPolicy(llm, Game24Agent())
    env = Game24Env()
    planner = MCTSPlanner(
        rollouts=3, expansion=10, expansion_mode="propose", expansion_temperature=0.7
    )
    ep = planner.plan("900", env, policy, HashRM())
    first = llm.calls[0]
    assert first["n"] == 1 and first["temperature"] == 0.7
    assert "Next steps:" in first["prompts"][0][0]["content"]
    assert "Numbers: 4 5 6 10\n" in first["prompts"][0][0]["content"]  # puzzle 900
    assert ep.counters["tree_nodes"] >= 2  # a listed step became a materialized child
    assert [p.actions[0] for p in Game24Agent().parse_steps(listing)] == [
        "4 + 5 = 9 (left: 6 9 10)",
        "10 - 6 = 4 (left: 4 4 5)",
        "5 * 6 = 30 (left: 4 10 30)",
    ]


def test_propose_needs_a_policy_that_can_list_steps():
    class Plain:
        def propose(self, contexts, n=1, temperature=None):
            return [[Proposal(["a"])] * n for _ in contexts]

        def counters(self) -> dict[str, float]:
            return {}

    with pytest.raises(PlanningError, match="expansion_mode=propose"):
        MCTSPlanner(rollouts=1, expansion_mode="propose").plan(
            "t", DeepTree("ab"), Plain(), PrefixRM("ab")
        )


def test_greedy_distinct_puts_the_greedy_action_first_then_the_most_frequent():
    class Counting:
        def propose(self, contexts: list[AgentContext], n=1, temperature=None):
            if temperature == 0.0:
                return [[Proposal(["b"])] for _ in contexts]
            pool = ["a", "b", "a", "c", "a", "c"][:n]
            return [[Proposal([x]) for x in pool] for _ in contexts]

        def counters(self) -> dict[str, float]:
            return {}

    planner = MCTSPlanner(expansion=3, expansion_mode="greedy_distinct", expansion_pool=6)
    ctx = AgentContext("i", Trajectory("t", "b", "t", "i", "o"), list, random.Random(0))
    got = [p.actions[0] for p in planner._candidates(Counting(), ctx)]
    assert got[:1] == ["b"] and got[1:3] == ["a", "c"]


def test_uct_reads_ln_n_plus_1_as_armaps_decision_nodes_start_with_one_visit():
    """ARMAP (``mcts.py:196``): a decision node starts with ``visits = 1``, so its UCT term is
    ``sqrt(ln(N + 1))`` after N backups; ``parent_visits_offset=0`` is our old ``ln N``
    (fidelity row 19)."""
    from arm_exp.planning.mcts import Node

    parent, child = Node(None, None, 0, visits=1), Node("a", None, 1, visits=1, value=0.25)
    armap = MCTSPlanner(c=2.0)._ucb(parent, child)
    assert armap == pytest.approx(0.25 + 2.0 * math.sqrt(math.log(2)) / 2)
    assert MCTSPlanner(c=2.0, parent_visits_offset=0)._ucb(parent, child) == 0.25


class EarlyExit(DeepTree):
    """DeepTree plus an action ``x`` that ends the episode at once, unsolved."""

    def step(self, action: str):
        if action == "x" and len(self.path) < len(self.target):
            self.steps += 1
            self.path += "x"
            return "gave up", 0.0, True, {"score": 0.0, "success": False}
        return super().step(action)

    def valid_actions(self) -> list[str]:
        return [] if len(self.path) >= len(self.target) or "x" in self.path else ["a", "b", "x"]


def test_answer_is_the_best_rollout_of_all_horizon_cut_ones_included_as_armap():
    """ARMAP (``mcts.py:124-125``) answers with the best-scored of every rolled-out trajectory;
    ``answer_from=finished`` (ours) prefers the ones the env ended, so one early failure hid
    every better horizon-cut rollout (fidelity row 19b)."""
    env, rm = EarlyExit("aaaa"), PrefixRM("aaaa")
    episodes = {
        mode: MCTSPlanner(rollouts=12, expansion=3, horizon=2, seed=0, answer_from=mode).plan(
            "t", env, RandomPolicy(), rm
        )
        for mode in ("all", "finished")
    }
    assert any(c.num_steps < 2 for c in episodes["all"].candidates)  # some gave up at once
    assert episodes["all"].trajectory.actions == ["a", "a"]  # cut by the horizon, best score
    assert episodes["all"].scorer_score > episodes["finished"].scorer_score
    assert not episodes["all"].trajectory.done
    finished = episodes["finished"].trajectory
    assert finished.done and finished.actions[-1] == "x"
