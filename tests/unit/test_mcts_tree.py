"""MCTS step by step on a scripted tree: which nodes it materializes, merges and prunes, what it
asks the policy and the scorer, what each rollout costs, the horizon, the value modes and the
answer rules, with the numbers worked out by hand."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from arm_exp.agents.base import AgentContext, Proposal
from arm_exp.agents.policy import RandomPolicy
from arm_exp.planning.base import PlanningError
from arm_exp.planning.mcts import ARMAP_C, MCTSPlanner
from arm_exp.planning.objectives import FewerActions, LowerPrice
from arm_exp.rollout import derive_seed
from arm_exp.tally import charge
from arm_exp.types import Step, Trajectory
from tests.unit.test_objectives import ConstantScorer, LineEnv


class AliasTree:
    """A tree of moves ``a``/``b`` of depth ``depth``; ``A`` is another name for ``a`` (same
    state, same observation); ``q`` gives up (the episode ends, failed); any other move is
    invalid. Records the moves it is asked to take."""

    benchmark = "alias"
    cheap_snapshot = True

    def __init__(self, depth: int = 2, target: str = "aa") -> None:
        self.depth, self.target = depth, target
        self.path = ""
        self.taken: list[str] = []

    def task_ids(self, split: str) -> list[str]:
        return ["t"]

    def reset(self, task_id: str) -> str:
        self.path = ""
        return "at the root"

    def intent(self) -> str:
        return f"reach {self.target}"

    def step(self, action: str):
        self.taken.append(action)
        if action == "q" and len(self.path) < self.depth:  # gives up: the episode ends, failed
            self.path += "q"
            return "gave up", 0.0, True, {"invalid": False, "score": 0.0, "success": False}
        move = {"a": "a", "A": "a", "b": "b"}.get(action)
        if move is None or len(self.path) >= self.depth:
            return (
                f"no move {action}",
                0.0,
                False,
                {"invalid": True, "score": 0.0, "success": False},
            )
        self.path += move
        done = len(self.path) == self.depth
        ok = done and self.path == self.target
        info = {"invalid": False, "score": float(ok), "success": ok}
        return f"at {self.path}", float(ok), done, info

    def valid_actions(self) -> list[str]:
        return [] if len(self.path) >= self.depth else ["a", "b"]

    def snapshot(self) -> str:
        return self.path

    def restore(self, snapshot: str) -> None:
        self.path = snapshot

    def counters(self) -> dict[str, float]:
        return {"env_steps": float(len(self.taken))}

    def close(self) -> None:
        pass


class ScriptPolicy:
    """Expansion (``n`` > 1) returns its whole list, whatever ``n`` (the planner caps and
    deduplicates); a single proposal (rollouts) is always ``rollout``. Records every call."""

    def __init__(self, expansion: Sequence[str], rollout: str = "b") -> None:
        self.expansion = list(expansion)
        self.rollout = rollout
        self.calls: list[tuple[int, float | None, str, str]] = []
        self.streams: dict[str, tuple] = {}  # trajectory id -> its random stream's first state

    def propose(self, contexts: list[AgentContext], n: int = 1, temperature=None):
        charge(policy_calls=1)
        for ctx in contexts:
            self.calls.append((n, temperature, ctx.intent, ctx.trajectory.id))
            self.streams.setdefault(ctx.trajectory.id, ctx.rng.getstate())
        if n == 1:
            return [[Proposal([self.rollout], thought="roll")] for _ in contexts]
        return [[Proposal([a], thought=f"think {a}") for a in self.expansion] for _ in contexts]

    def counters(self) -> dict[str, float]:
        return {"policy_calls": float(len(self.calls))}


class MatchScorer:
    """The share of ``target`` matched from the start; records the intents it is asked about."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.intents: list[str] = []

    def score(self, intents: Sequence[str], trajectories: Sequence[Trajectory]) -> list[float]:
        charge(rm_calls=1)
        self.intents += list(intents)
        out = []
        for t in trajectories:
            path = "".join(t.actions).replace("A", "a")
            n = 0
            while n < min(len(path), len(self.target)) and path[n] == self.target[n]:
                n += 1
            out.append(n / len(self.target))
        return out

    def threshold(self, quantile: float, of: str = "negative") -> float:
        return 1.0

    def unit(self, scores: Sequence[float]) -> list[float]:
        return [float(s) for s in scores]

    def counters(self) -> dict[str, float]:
        return {"rm_calls": 0.0}


EXPANSION = ["a", "a", "A", "c", "b", "B", "d"]


def _search(rollouts: int, **kw):
    env = AliasTree()
    policy, scorer = ScriptPolicy(EXPANSION), MatchScorer("aa")
    planner = MCTSPlanner(rollouts=rollouts, expansion=5, expansion_temperature=1.3, seed=3, **kw)
    return planner.plan("t", env, policy, scorer), env, policy, scorer


def test_first_rollouts_materialize_merge_and_prune_as_worked_out():
    """Children of a node: a, A, c, b, B (the first 5 distinct proposals). Rollouts (greedy
    completion: always ``b``): r0 from the root (b b); r1 materializes a (a, then b); r2
    materializes A, the same state as a: merged into a, completed from a (A, b); r3 prunes c
    (one step); r4 materializes b (b, then b); r5 prunes B."""
    ep, env, policy, scorer = _search(6)
    assert env.taken == ["b", "b", "a", "b", "A", "b", "c", "b", "b", "B"]
    assert ep.meta["rollout_env_steps"] == [2, 2, 2, 1, 2, 1]
    assert ep.meta["rollout_depths"] == [2, 2, 2, 1, 2, 1]
    c = ep.counters
    assert (c["tree_nodes"], c["merged_children"], c["invalid_children"]) == (3.0, 1.0, 2.0)
    assert (c["rollouts"], c["max_env_steps_per_rollout"]) == (6.0, 2.0)
    assert c["env_steps"] == 10 and c["rm_calls"] == 4 == len(scorer.intents)
    assert c["policy_calls"] == len(policy.calls) == 3 + 5  # 3 expansions, 5 rollout steps
    # four completed rollouts: bb, ab, ab, bb; the answer is the first of the best ("ab")
    assert [x.scorer_score for x in ep.candidates] == [0.0, 0.5, 0.5, 0.0]
    assert [x.num_steps for x in ep.candidates] == [2, 2, 2, 2]
    assert ep.trajectory.id == "t/mcts/r1" and ep.trajectory.actions == ["a", "b"]
    assert ep.scorer_score == 0.5 and not ep.success and ep.planner == "mcts"
    assert ep.task_id == ep.trajectory.task_id == "t"
    assert ep.trajectory.meta["seed"] == derive_seed(3, "mcts", "t")
    # the tree's step keeps the env's answer and the proposal's thought; the rollout's its own
    assert ep.trajectory.steps[0] == Step(
        "a", "at a", 0.0, False, "think a", {"invalid": False, "score": 0.0, "success": False}
    )
    assert ep.trajectory.steps[1].thought == "roll"
    # what the policy and the scorer were asked
    intent = "reach aa"
    assert set(scorer.intents) == {intent}
    expansions = [call for call in policy.calls if call[0] != 1]
    assert [(n, t, i) for n, t, i, _ in expansions] == [(5, 1.3, intent)] * 3
    assert {call[3] for call in expansions} == {"t/mcts/expand"}
    rollouts = [call for call in policy.calls if call[0] == 1]
    assert {(t, i) for _, t, i, _ in rollouts} == {(0.0, intent)}
    assert [call[3] for call in rollouts] == ["t/mcts/r0"] * 2 + [f"t/mcts/r{r}" for r in (1, 2, 4)]
    # each rollout draws from its own stream, derived from the task's seed and its number
    for r in (0, 1, 2, 4):
        expect = random.Random(derive_seed(derive_seed(3, "mcts", "t"), r)).getstate()
        assert policy.streams[f"t/mcts/r{r}"] == expect


def test_the_tree_reaches_the_target_leaf_and_answers_with_it():
    """The greedy completion never finds ``aa``; the tree does, as a terminal node, and that
    node's trajectory is the answer, with the env's verdict. By hand: r6 selects b by UCT
    (values 0.45 and 0, visits 2 and 1 under a root visited 4 times: 0.45 + 6.364 *
    sqrt(ln 4) / 3 = 2.95 < 0 + 6.364 * sqrt(ln 4) / 2 = 3.75) and materializes the terminal
    node ba (score 0); r7 selects a (3.14 > 2.69) and materializes aa: the target."""
    ep, env, policy, scorer = _search(12)
    c = ep.counters
    assert (c["tree_nodes"], c["merged_children"], c["invalid_children"]) == (6.0, 3.0, 3.0)
    assert ep.success and ep.score == 1.0 and ep.scorer_score == 1.0
    assert ep.trajectory.actions == ["a", "a"] and ep.trajectory.done
    assert [s.thought for s in ep.trajectory.steps] == ["think a", "think a"]
    assert ep.trajectory.steps[-1] == Step(
        "a", "at aa", 1.0, True, "think a", {"invalid": False, "score": 1.0, "success": True}
    )
    assert ep.trajectory.id == "t/mcts/r7" and env.taken[10:12] == ["a", "a"]
    assert [x.scorer_score for x in ep.candidates] == [0.0, 0.5, 0.5, 0.0, 0.0, 1.0, 0.5]
    assert sum(ep.meta["rollout_env_steps"]) == len(env.taken) == c["env_steps"]
    assert len(ep.candidates) == c["rm_calls"]


def test_horizon_cuts_the_tree_and_the_rollouts():
    """Depth-3 tree, horizon 2: nodes at depth 2 are never expanded and rollouts stop at two
    steps; no rollout finishes, so the answer is the best unfinished one."""
    env = AliasTree(depth=3, target="aaa")
    planner = MCTSPlanner(rollouts=10, expansion=2, horizon=2, seed=0)
    ep = planner.plan("t", env, ScriptPolicy(["a", "b"]), MatchScorer("aaa"))
    assert all(x.num_steps == 2 for x in ep.candidates) and not ep.trajectory.done
    assert ep.meta["rollout_depths"] == [2] * 10
    assert ep.counters["tree_nodes"] == 7  # the root, 2 children, 4 grandchildren
    assert ep.trajectory.actions == ["a", "a"] and ep.scorer_score == pytest.approx(2 / 3)
    # horizon 1: only the root is expanded; its children end the rollouts at once
    ep1 = MCTSPlanner(rollouts=4, expansion=2, horizon=1).plan(
        "t", AliasTree(depth=3), ScriptPolicy(["a", "b"]), MatchScorer("aaa")
    )
    assert ep1.counters["tree_nodes"] == 3 and ep1.meta["rollout_depths"] == [1] * 4
    assert ep1.meta["rollout_env_steps"] == [1, 1, 1, 0]
    # rollouts are plain (no retries of an invalid step) and end at the horizon
    env = AliasTree(depth=3)
    ep3 = MCTSPlanner(rollouts=1, expansion=2, horizon=3).plan(
        "t", env, ScriptPolicy(["a", "b"], rollout="c"), MatchScorer("aaa")
    )
    assert ep3.trajectory.actions == ["c", "c", "c"] and env.taken == ["c", "c", "c"]


def _horizon_cut(answer_from: str):
    """Horizon 2 on a depth-3 tree: the simulations (a a) stop unfinished with 2/3 of the
    target; the tree node q gives up (finished, score 0)."""
    ep = MCTSPlanner(rollouts=3, expansion=2, horizon=2, answer_from=answer_from).plan(
        "t", AliasTree(depth=3, target="aaa"), ScriptPolicy(["q", "a"], rollout="a"),
        MatchScorer("aaa"),
    )  # fmt: skip
    assert [x.scorer_score for x in ep.candidates] == pytest.approx([2 / 3, 0.0, 2 / 3])
    return ep


def test_the_best_scored_rollout_wins_even_when_the_horizon_cut_it_as_armap():
    ep = _horizon_cut("all")
    assert ep.trajectory.actions == ["a", "a"] and not ep.trajectory.done
    assert ep.scorer_score == pytest.approx(2 / 3)


def test_answer_from_finished_prefers_a_finished_rollout_to_a_better_scored_cut_one():
    ep = _horizon_cut("finished")
    assert ep.trajectory.actions == ["q"] and ep.trajectory.done and ep.scorer_score == 0.0


class NoCheapSnapshot(AliasTree):
    cheap_snapshot = False


def test_rollouts_on_an_env_without_cheap_snapshots_see_the_valid_actions():
    wins = 0
    for seed in range(5):
        env = NoCheapSnapshot(depth=3, target="aba")
        ep = MCTSPlanner(rollouts=12, expansion=2, seed=seed).plan(
            "t", env, RandomPolicy(), MatchScorer("aba")
        )
        assert all(not s.info.get("invalid") for s in ep.trajectory.steps)
        wins += ep.success
    assert wins >= 4


def test_value_modes():
    scorer = MatchScorer("x")
    sig = MCTSPlanner(value="sigmoid")
    assert sig._value(scorer, 0.0) == 0.5
    assert sig._value(scorer, 2.0) == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert sig._value(scorer, -3.0) == pytest.approx(1 / (1 + math.exp(3.0)))
    assert sig._value(scorer, -699.0) > 0.0  # still computed
    assert sig._value(scorer, -700.0) == 0.0 and sig._value(scorer, -700.5) == 0.0
    assert sig._value(scorer, -1e6) == 0.0  # no overflow
    assert MCTSPlanner(value="raw")._value(scorer, -3.0) == -3.0

    class Halving(MatchScorer):
        def unit(self, scores):
            return [s / 2 for s in scores]

    assert MCTSPlanner(value="cdf")._value(Halving("x"), 0.8) == 0.4


def test_constructor_defaults_and_errors():
    p = MCTSPlanner()
    assert (p.rollouts, p.expansion, p.expansion_mode, p.expansion_temperature) == (
        100, 5, "sample", 1.0)  # fmt: skip
    assert (p.expansion_pool, p.rollout_temperature, p.horizon, p.max_steps, p.seed) == (
        20, 0.0, None, 100, 0)  # fmt: skip
    assert p.c == ARMAP_C and p.gamma == 0.9 and p.objective is None
    assert MCTSPlanner(c=2).c == 2.0 and MCTSPlanner(expansion=1, rollouts=1).expansion == 1
    for bad in ({"rollouts": 0}, {"expansion": 0}):
        with pytest.raises(ValueError) as err:
            MCTSPlanner(**bad)
        assert str(err.value) == "planner.rollouts and planner.expansion must be >= 1"
    with pytest.raises(ValueError) as err:
        MCTSPlanner(value="logit")
    assert str(err.value) == "planner.value='logit': one of cdf, sigmoid, raw"
    with pytest.raises(ValueError) as err:
        MCTSPlanner(expansion_mode="beam")
    assert str(err.value) == (
        "planner.expansion_mode='beam': one of sample, greedy_distinct, propose"
    )
    with pytest.raises(ValueError) as err:
        MCTSPlanner(answer_from="done")
    assert str(err.value) == "planner.answer_from='done': one of all, finished"
    with pytest.raises(ValueError) as err:
        MCTSPlanner(parent_visits_offset=-1)
    assert str(err.value) == "planner.parent_visits_offset=-1: must be >= 0"
    assert MCTSPlanner(parent_visits_offset=0).parent_visits_offset == 0
    with pytest.raises(PlanningError, match="planner=mcts needs a scorer"):
        p.plan("t", AliasTree(), RandomPolicy(), None)


class Listing:
    """A policy that can list next steps (``propose_steps``); records both kinds of call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, float | None]] = []

    def propose(self, contexts, n=1, temperature=None):
        self.calls.append(("propose", n, temperature))
        return [[Proposal(["b"])] * n for _ in contexts]

    def propose_steps(self, contexts, n=1, temperature=None):
        self.calls.append(("propose_steps", n, temperature))
        return [[Proposal(["a"]), Proposal(["b"]), Proposal(["a"])] for _ in contexts]

    def counters(self) -> dict[str, float]:
        return {}


def test_propose_mode_asks_for_a_listing_with_the_expansion_settings():
    policy = Listing()
    ep = MCTSPlanner(rollouts=2, expansion=4, expansion_mode="propose",
                     expansion_temperature=0.6).plan("t", AliasTree(), policy, MatchScorer("aa"))  # fmt: skip
    assert policy.calls[0] == ("propose_steps", 4, 0.6)
    assert ep.counters["tree_nodes"] == 2  # the listed "a" materialized in the second rollout

    class Plain:
        def propose(self, contexts, n=1, temperature=None):
            return [[Proposal(["a"])] * n for _ in contexts]

        def counters(self) -> dict[str, float]:
            return {}

    with pytest.raises(PlanningError) as err:
        MCTSPlanner(rollouts=1, expansion_mode="propose").plan(
            "t", AliasTree(), Plain(), MatchScorer("aa")
        )
    assert str(err.value) == (
        "planner.expansion_mode=propose: the policy Plain cannot list next steps (no propose_steps)"
    )


class Pool:
    """Greedy answer ``b``; a pool of drawn actions (some only as raw text); records calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, float | None]] = []

    def propose(self, contexts, n=1, temperature=None):
        self.calls.append((n, temperature))
        if temperature == 0.0:
            return [[Proposal(["b"])] for _ in contexts]
        pool = [Proposal(["a"]), Proposal([], text="x" * 400), Proposal([], text="  c\nmore"),
                Proposal(["a"]), Proposal([], text="x" * 300 + "y" * 50), Proposal(["a"]),
                Proposal([])]  # fmt: skip
        return [pool for _ in contexts]

    def counters(self) -> dict[str, float]:
        return {}


def _ctx() -> AgentContext:
    return AgentContext("i", Trajectory("t", "b", "t", "i", "o"), list, random.Random(0))


def test_greedy_distinct_ranks_the_pool_and_reads_raw_text():
    pool = Pool()
    planner = MCTSPlanner(expansion=2, expansion_mode="greedy_distinct", expansion_pool=6,
                          expansion_temperature=0.9)  # fmt: skip
    got = planner._candidates(pool, _ctx())
    assert pool.calls == [(1, 0.0), (6, 0.9)]
    # greedy first; then the pool by frequency: a (3), the two texts that agree on their first
    # 300 characters (2, the first of them stands for both), the raw text (1), the empty one (1)
    keys = [p.actions[0] if p.actions else p.text for p in got]
    assert keys == ["b", "a", "x" * 400, "  c\nmore", ""]
    one = Pool()
    assert [p.actions for p in MCTSPlanner(expansion=1, expansion_mode="greedy_distinct")
            ._candidates(one, _ctx())] == [["b"]] and one.calls == [(1, 0.0)]  # fmt: skip
    # as children: raw text is the action (stripped, at most 300 characters)
    env = AliasTree()
    MCTSPlanner(rollouts=6, expansion=5, expansion_mode="greedy_distinct", expansion_pool=6).plan(
        "t", env, Pool(), MatchScorer("aa")
    )
    assert {"c\nmore", "x" * 300, ""} <= set(env.taken)


def test_objective_enters_the_backup_and_the_answer():
    """LineEnv: buying later is cheaper. With LowerPrice the answer is the cheapest purchase
    among the rollouts, also when a cheap one was found by a simulation and an expensive one is
    a terminal tree node (ranked with the objective too), and the backed-up values carry it."""
    for seed in range(3):
        ep = MCTSPlanner(rollouts=12, expansion=2, seed=seed, objective=LowerPrice()).plan(
            "t", LineEnv(), RandomPolicy(), ConstantScorer()
        )
        best = max(x.objective for x in ep.candidates)
        assert ep.counters["objective_value"] == best and ep.scorer_score == 0.5
        assert all(x.scorer_score == 0.5 and x.objective is not None for x in ep.candidates)


class Recording(MCTSPlanner):
    """Records what each rollout backs up."""

    def _backup(self, path, value, bonus, leaf_terminal):
        self.backups.append((len(path), value, bonus, leaf_terminal))
        super()._backup(path, value, bonus, leaf_terminal)


def test_the_backup_gets_the_value_the_objective_term_and_whether_the_leaf_ended():
    planner = Recording(rollouts=10, expansion=2, seed=1, objective=FewerActions(0.3))
    planner.backups = []
    ep = planner.plan("t", LineEnv(), RandomPolicy(), ConstantScorer())
    depths = ep.meta["rollout_depths"]  # each rollout's trajectory length
    assert len(planner.backups) == len(depths) == 10  # a revisited terminal leaf backs up again
    assert [b[2] for b in planner.backups] == pytest.approx([-0.3 * d for d in depths])
    assert {b[1] for b in planner.backups} == {0.5}  # the scorer's unit value
    # "buy" ends the episode: a path to that tree node is the whole trajectory (root + d nodes);
    # a simulated rollout went on from a shallower leaf
    for (n, _, _, ended), d in zip(planner.backups, depths, strict=True):
        assert n == d + 1 if ended else n <= d
    assert any(b[3] for b in planner.backups) and not all(b[3] for b in planner.backups)
