"""MCTS (ARMAP-M): UCT over env states, reward-model values at the end of rollouts.

Each iteration:

1. **selection** from the root by UCT, ``value + c * sqrt(ln(N_parent + 1)) / (1 + n_child)``
   with ARMAP's ``c = 4.5 * sqrt(2)`` (ARMAP's decision nodes start with one visit,
   ``mcts.py:196``, hence ``N + 1``; ``parent_visits_offset=0`` reads ``ln N``), until a node
   that is unexpanded, terminal, or an unvisited child;
2. an unvisited child is **materialized**: the env is restored to its parent's snapshot and the
   child's action is taken (one env step). A child whose state equals a sibling's (same
   observation) is merged into it; an invalid action that does not end the episode is pruned
   (one that ends it, as on Game of 24 and WebShop without step feedback, is a terminal child);
3. **expansion** (``expansion_mode``): ``sample``: the policy proposes ``expansion`` actions in
   one batched call at ``expansion_temperature``, deduplicated (ARMAP's WebShop: 10 at T 1.5);
   ``greedy_distinct``: the greedy action first, then the most frequent other actions among
   ``expansion_pool`` samples, up to ``expansion`` distinct ones (our stand-in for ARMAP's
   ScienceWorld beam search at T 0: the LLM protocol has no beams; greedy first, then the
   modes of the policy's distribution); ``propose``: one generation that lists possible next
   steps (Tree of Thoughts' "propose" prompt, ARMAP's Game of 24; the agent's
   ``propose_prompt``), up to ``expansion`` distinct ones. Children cost no env step;
4. **simulation**: from the node's snapshot, the policy completes the trajectory (greedy by
   default) until the episode ends or ``horizon`` steps; the scorer scores it;
5. **backpropagation**, as ARMAP's (``Eval/sciworld/mcts_agents/mcts.py:146-153``): the
   transition into a terminal node earns the rollout's value, every other transition 0, and a
   terminal leaf's own estimate is 0; going up, ``estimate = reward + gamma * estimate`` once
   per tree level. So a node ``k`` levels above a terminal leaf gets ``gamma ** k * v``, and
   ``gamma ** (k + 1) * v`` above a leaf that was simulated from; steps of the simulation
   beyond the tree are not discounted. Each node keeps the max of its backed-up returns.

The backed-up ``v`` is the scorer's score mapped into [0, 1] (``value``): discounting a
negative raw reward-model score makes the deeper (or longer) trajectory look *better*, and
adding a constant to every score (which changes nothing the reward model prefers) changed the
search's answer. ``value=cdf`` (default) is the score's place among the checkpoint's stored
validation scores (a smoothed empirical CDF, :meth:`~arm_exp.reward.model.Calibration.unit`):
in (0, 1), increasing, and unchanged by any shift of the model's output, so the search depends
only on how the reward model ranks trajectories, which is all it was trained to know; on the
validation data it is also spread evenly over [0, 1], so the discount keeps one meaning across
checkpoints. ``value=sigmoid`` (``1 / (1 + exp(-score))``, the Bradley-Terry probability
against a zero-score trajectory) needs no calibration but depends on the model's offset;
``value=raw`` backs up the raw score, exactly as ARMAP's code does (the sign bug included).
Oracle and policy-as-judge scores already lie in [0, 1] (their ``unit`` is the identity).

Envs are restored from snapshots, never replayed from the start, so an iteration costs at most
``depth + 1`` env steps (the new child plus the simulation; the counts are in
``meta["rollout_env_steps"]``). The answer (``answer_from``) is the best-scored rollout of all,
horizon-cut ones included, as ARMAP's (``mcts.py:124-125`` keeps every rolled-out trajectory and
its reward), or, with ``answer_from=finished`` (ours), the best-scored rollout the env ended when
there is one.

With ``objective`` (a customizable reward target, :mod:`arm_exp.planning.objectives`) the
backed-up return is the discounted value plus weight * objective value (undiscounted: it is a
property of the whole trajectory), and the answer is the rollout with the best score + weight *
objective value; the episode keeps the scorer's own score of the answer.
"""

from __future__ import annotations

import copy
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from arm_exp.agents.base import AgentContext, Policy, Proposal
from arm_exp.envs.base import Env
from arm_exp.planning.base import (
    Meter,
    PlanningError,
    Scorer,
    candidate,
    make_episode,
    require_scorer,
)
from arm_exp.planning.objectives import Objective, planning_values
from arm_exp.rollout import Cursor, EpisodeJob, clean_info, derive_seed, run_cursors, start_cursor
from arm_exp.types import Episode, Step, Trajectory

ARMAP_C = 4.5 * math.sqrt(2)  # ARMAP's uct.py: 4.5 * sqrt(2) = 6.364
VALUES = ("cdf", "sigmoid", "raw")
EXPANSION_MODES = ("sample", "greedy_distinct", "propose")
ANSWER_FROM = ("all", "finished")


@dataclass(eq=False)
class Node:
    action: str | None
    parent: Node | None
    depth: int
    thought: str = ""
    snap: Any = None  # env state after `action`; None until materialized
    step: Step | None = None
    visits: int = 0
    value: float = -math.inf
    children: list[Node] | None = None  # None: not expanded yet
    terminal: bool = False
    score_cache: float | None = None
    done_traj: Trajectory | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class MCTSPlanner:
    """Args:
    rollouts: iterations (ARMAP: 100 Game of 24, 10 WebShop/ScienceWorld).
    expansion: children per expansion at most (ARMAP: 10).
    expansion_mode: ``sample`` | ``greedy_distinct`` | ``propose`` (module docstring).
    expansion_temperature: sampling temperature of the expansion proposals (``sample``,
        ``propose``) or of the pool (``greedy_distinct``).
    expansion_pool: samples drawn by ``greedy_distinct`` besides the greedy one.
    rollout_temperature: temperature of simulations (0: greedy completion, as in ARMAP).
    horizon: max trajectory length of a simulation (None: ``max_steps``).
    c: UCT exploration constant (None: ARMAP's 4.5 * sqrt(2)); gamma: discount per tree level.
    parent_visits_offset: UCT reads ``ln(N_parent + offset)`` (ARMAP: 1).
    value: how a score becomes the backed-up value: ``cdf`` | ``sigmoid`` | ``raw``.
    answer_from: ``all`` rollouts (ARMAP) or the env-``finished`` ones when any (ours).
    objective: a customizable reward target added to the scorer's score (None: score only).
    """

    name = "mcts"
    uses_scorer = True

    def __init__(
        self,
        rollouts: int = 100,
        expansion: int = 5,
        expansion_temperature: float = 1.0,
        expansion_mode: str = "sample",
        expansion_pool: int = 20,
        rollout_temperature: float = 0.0,
        horizon: int | None = None,
        c: float | None = None,
        gamma: float = 0.9,
        parent_visits_offset: int = 1,
        value: str = "cdf",
        answer_from: str = "all",
        max_steps: int = 100,
        seed: int = 0,
        objective: Objective | None = None,
    ) -> None:
        if rollouts < 1 or expansion < 1:
            raise ValueError("planner.rollouts and planner.expansion must be >= 1")
        if value not in VALUES:
            raise ValueError(f"planner.value={value!r}: one of {', '.join(VALUES)}")
        if answer_from not in ANSWER_FROM:
            raise ValueError(
                f"planner.answer_from={answer_from!r}: one of {', '.join(ANSWER_FROM)}"
            )
        if parent_visits_offset < 0:
            raise ValueError(f"planner.parent_visits_offset={parent_visits_offset}: must be >= 0")
        if expansion_mode not in EXPANSION_MODES:
            raise ValueError(
                f"planner.expansion_mode={expansion_mode!r}: one of {', '.join(EXPANSION_MODES)}"
            )
        self.rollouts = rollouts
        self.expansion = expansion
        self.expansion_temperature = expansion_temperature
        self.expansion_mode = expansion_mode
        self.expansion_pool = expansion_pool
        self.rollout_temperature = rollout_temperature
        self.horizon = horizon
        self.c = ARMAP_C if c is None else float(c)
        self.gamma = gamma
        self.parent_visits_offset = parent_visits_offset
        self.value = value
        self.answer_from = answer_from
        self.max_steps = max_steps
        self.seed = seed
        self.objective = objective

    # -- tree helpers ---------------------------------------------------------------------
    def _ucb(self, parent: Node, child: Node) -> float:
        n = max(parent.visits + self.parent_visits_offset, 1)
        return child.value + self.c * math.sqrt(math.log(n)) / (1 + child.visits)

    def _select(self, root: Node) -> list[Node]:
        path = [root]
        node = root
        while node.snap is not None and not node.terminal and node.children:
            unvisited = [c for c in node.children if c.visits == 0]
            if unvisited:
                path.append(unvisited[0])
                return path
            node = max(node.children, key=lambda ch: self._ucb(path[-1], ch))
            path.append(node)
        return path

    def _steps(self, path: list[Node]) -> list[Step]:
        return [n.step for n in path[1:] if n.step is not None]

    def _trajectory(self, base: Trajectory, path: list[Node], tag: str) -> Trajectory:
        traj = copy.copy(base)
        traj.id = f"{base.id}/{tag}"
        traj.steps = [copy.copy(s) for s in self._steps(path)]
        traj.meta = dict(base.meta)
        last = path[-1].step
        if last is not None:
            traj.score = float(last.info.get("score", 0.0))
            traj.success = bool(last.info.get("success", False))
        return traj

    def _materialize(self, env: Env, path: list[Node], stats: dict[str, float]) -> bool:
        """Take the leaf's action from its parent's state; False if it was pruned."""
        leaf, parent = path[-1], path[-2]
        assert leaf.action is not None and parent.children is not None
        env.restore(parent.snap)
        obs, reward, done, info = env.step(leaf.action)
        if info.get("invalid") and not done:
            parent.children.remove(leaf)
            stats["invalid_children"] += 1
            return False
        leaf.step = Step(
            leaf.action, obs, float(reward), bool(done), leaf.thought, clean_info(info)
        )
        leaf.snap = env.snapshot()
        leaf.terminal = bool(done)
        for sib in parent.children:
            if (
                sib is not leaf
                and sib.step is not None
                and (sib.step.observation, sib.terminal) == (obs, leaf.terminal)
            ):
                parent.children.remove(leaf)  # an identical state: keep one node for it
                path[-1] = sib
                stats["merged_children"] += 1
                return True
        stats["tree_nodes"] += 1
        return True

    def _expand(
        self, env: Env, policy: Policy, base: Trajectory, path: list[Node], rng: random.Random
    ) -> None:
        leaf = path[-1]
        env.restore(leaf.snap)
        traj = self._trajectory(base, path, "expand")
        ctx = AgentContext(base.intent, traj, env.valid_actions, rng)
        seen: set[str] = set()
        children = []
        for p in self._candidates(policy, ctx):
            action = p.actions[0] if p.actions else (p.text or "").strip()[:300]
            if action in seen:
                continue
            seen.add(action)
            children.append(Node(action, leaf, leaf.depth + 1, thought=p.thought))
            if len(children) >= self.expansion:
                break
        leaf.children = children

    def _candidates(self, policy: Policy, ctx: AgentContext) -> list[Proposal]:
        """The expansion's proposals, best first (see ``expansion_mode``)."""
        if self.expansion_mode == "sample":
            return policy.propose([ctx], n=self.expansion, temperature=self.expansion_temperature)[
                0
            ]
        if self.expansion_mode == "propose":
            propose_steps = getattr(policy, "propose_steps", None)
            if not callable(propose_steps):
                raise PlanningError(
                    f"planner.expansion_mode=propose: the policy {type(policy).__name__} cannot "
                    "list next steps (no propose_steps)"
                )
            return propose_steps([ctx], n=self.expansion, temperature=self.expansion_temperature)[0]
        greedy = policy.propose([ctx], n=1, temperature=0.0)[0]
        if self.expansion <= 1:
            return greedy
        pool = policy.propose([ctx], n=self.expansion_pool, temperature=self.expansion_temperature)[
            0
        ]
        counts: Counter[str] = Counter()
        first: dict[str, Proposal] = {}
        for p in pool:
            key = p.actions[0] if p.actions else (p.text or "").strip()[:300]
            counts[key] += 1
            first.setdefault(key, p)
        # most frequent first; ties keep the order they were drawn in (Counter is ordered)
        return greedy + [first[k] for k, _ in counts.most_common()]

    def _backup(self, path: list[Node], value: float, bonus: float, leaf_terminal: bool) -> None:
        """ARMAP's backup: ``estimate = reward + gamma * estimate`` once per tree level (module
        docstring); ``bonus`` (the objective's term) is added undiscounted."""
        leaf = len(path) - 1
        for k, node in enumerate(path):
            levels = leaf - k if leaf_terminal else leaf - k + 1
            node.visits += 1
            node.value = max(node.value, self.gamma**levels * value + bonus)

    def _value(self, scorer: Scorer, score: float) -> float:
        if self.value == "cdf":
            return scorer.unit([score])[0]
        if self.value == "sigmoid":
            return 1 / (1 + math.exp(-score)) if score > -700 else 0.0
        return score

    # -- the search -----------------------------------------------------------------------
    def plan(self, task_id: str, env: Env, policy: Policy, scorer: Scorer | None) -> Episode:
        scorer = require_scorer(self.name, scorer)
        with Meter(env, policy, scorer) as meter:
            seed = derive_seed(self.seed, self.name, task_id)
            root_cursor = start_cursor(env, EpisodeJob(f"{task_id}/mcts", task_id, seed))
            base = root_cursor.trajectory
            root = Node(None, None, 0, snap=root_cursor.snap)
            horizon = min(self.horizon or self.max_steps, self.max_steps)
            rng = random.Random(seed)
            stats = {"tree_nodes": 1.0, "merged_children": 0.0, "invalid_children": 0.0}
            # (planning value, scorer score, trajectory) of every completed rollout
            completed: list[tuple[float, float, Trajectory]] = []
            per_rollout_steps: list[int] = []
            depths: list[int] = []

            def env_steps() -> float:
                return float(env.counters().get("env_steps", 0))

            for r in range(self.rollouts):
                before = env_steps()
                path = self._select(root)
                if path[-1].snap is None and not self._materialize(env, path, stats):
                    per_rollout_steps.append(int(env_steps() - before))
                    depths.append(path[-2].depth + 1)
                    continue
                leaf = path[-1]
                if leaf.terminal:
                    if leaf.done_traj is None:
                        leaf.done_traj = self._trajectory(base, path, f"r{r}")
                        score = scorer.score([base.intent], [leaf.done_traj])[0]
                        leaf.score_cache = score
                        completed.append(
                            (
                                planning_values([score], [leaf.done_traj], self.objective)[0],
                                score,
                                leaf.done_traj,
                            )
                        )
                    assert leaf.score_cache is not None
                    traj, score = leaf.done_traj, leaf.score_cache
                else:
                    if leaf.children is None and leaf.depth < horizon:
                        self._expand(env, policy, base, path, rng)
                    prefix = self._trajectory(base, path, f"r{r}")
                    cursor = Cursor(
                        ctx=AgentContext(
                            base.intent,
                            prefix,
                            env.valid_actions,
                            random.Random(derive_seed(seed, r)),
                        ),
                        snap=leaf.snap,
                        finished=leaf.depth >= horizon,
                    )
                    run_cursors(env, policy, [cursor], self.rollout_temperature, 0, horizon)
                    traj = cursor.trajectory
                    score = scorer.score([base.intent], [traj])[0]
                    completed.append(
                        (planning_values([score], [traj], self.objective)[0], score, traj)
                    )
                bonus = planning_values([0.0], [traj], self.objective)[0]
                self._backup(path, self._value(scorer, score), bonus, leaf.terminal)
                per_rollout_steps.append(int(env_steps() - before))
                depths.append(len(traj.steps))

            if not completed:
                raise RuntimeError(
                    f"mcts on task {task_id}: no rollout completed (every action was invalid)"
                )
            pool = completed
            if self.answer_from == "finished":
                pool = [c for c in completed if c[2].done] or completed
            _, best_score, best = max(pool, key=lambda c: c[0])
            return make_episode(
                self.name,
                task_id,
                best,
                best_score,
                [candidate(t, s, self.objective) for _, s, t in completed],
                meter,
                extra={
                    "rollouts": float(self.rollouts),
                    **stats,
                    "max_env_steps_per_rollout": float(max(per_rollout_steps)),
                },
                meta={"rollout_env_steps": per_rollout_steps, "rollout_depths": depths},
                objective=self.objective,
            )
