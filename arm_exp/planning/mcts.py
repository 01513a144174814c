"""MCTS (ARMAP-M): UCT over env states, reward-model values at the end of rollouts.

Each iteration:

1. **selection** from the root by UCT, ``value + c * sqrt(ln N_parent) / (1 + n_child)`` with
   ARMAP's ``c = 4.5 * sqrt(2)``, until a node that is unexpanded, terminal, or an unvisited
   child;
2. an unvisited child is **materialized**: the env is restored to its parent's snapshot and the
   child's action is taken (one env step). A child whose state equals a sibling's (same
   observation) is merged into it; an invalid action is pruned;
3. **expansion**: the policy proposes ``expansion`` actions at once (one batched call, sampled at
   ``expansion_temperature``), deduplicated; they become children without env steps;
4. **simulation**: from the node's snapshot, the policy completes the trajectory (greedy by
   default) until the episode ends or ``horizon`` steps; the scorer scores it (value 0 for all
   non-terminal steps, the score at the end);
5. **backpropagation**: each node on the path keeps the max of its discounted returns
   (``gamma ** distance * score``, gamma 0.9) and counts the visit.

Envs are restored from snapshots, never replayed from the start, so an iteration costs at most
``depth + 1`` env steps (the new child plus the simulation; the counts are in
``meta["rollout_env_steps"]``). The answer is the best-scored completed rollout.

With ``objective`` (a customizable reward target, :mod:`arm_exp.planning.objectives`) a
rollout's value is its score + weight * objective value, both in the backed-up returns and in
the choice of the answer; the episode keeps the scorer's own score of the answer.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field
from typing import Any

from arm_exp.agents.base import AgentContext, Policy
from arm_exp.envs.base import Env
from arm_exp.planning.base import Meter, Scorer, candidate, make_episode, require_scorer
from arm_exp.planning.objectives import Objective, combine
from arm_exp.rollout import Cursor, EpisodeJob, clean_info, derive_seed, run_cursors, start_cursor
from arm_exp.types import Episode, Step, Trajectory

ARMAP_C = 4.5 * math.sqrt(2)


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
    expansion: actions proposed per expansion (ARMAP WebShop: 10 samples at T=1.5).
    expansion_temperature: sampling temperature of the expansion proposals.
    rollout_temperature: temperature of simulations (0: greedy completion, as in ARMAP).
    horizon: max trajectory length of a simulation (None: ``max_steps``).
    c: UCT exploration constant; gamma: discount of backed-up returns.
    objective: a customizable reward target added to the scorer's score (None: score only).
    """

    name = "mcts"
    uses_scorer = True

    def __init__(
        self,
        rollouts: int = 100,
        expansion: int = 5,
        expansion_temperature: float = 1.0,
        rollout_temperature: float = 0.0,
        horizon: int | None = None,
        c: float = ARMAP_C,
        gamma: float = 0.9,
        max_steps: int = 100,
        seed: int = 0,
        objective: Objective | None = None,
    ) -> None:
        if rollouts < 1 or expansion < 1:
            raise ValueError("planner.rollouts and planner.expansion must be >= 1")
        self.rollouts = rollouts
        self.expansion = expansion
        self.expansion_temperature = expansion_temperature
        self.rollout_temperature = rollout_temperature
        self.horizon = horizon
        self.c = c
        self.gamma = gamma
        self.max_steps = max_steps
        self.seed = seed
        self.objective = objective

    # -- tree helpers ---------------------------------------------------------------------
    def _ucb(self, parent: Node, child: Node) -> float:
        return child.value + self.c * math.sqrt(math.log(max(parent.visits, 1))) / (
            1 + child.visits
        )

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
        proposals = policy.propose([ctx], n=self.expansion, temperature=self.expansion_temperature)[
            0
        ]
        seen: set[str] = set()
        children = []
        for p in proposals:
            action = p.actions[0] if p.actions else (p.text or "").strip()[:300]
            if action in seen:
                continue
            seen.add(action)
            children.append(Node(action, leaf, leaf.depth + 1, thought=p.thought))
        leaf.children = children

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
                        leaf.score_cache = combine([score], [leaf.done_traj], self.objective)[0]
                        completed.append((leaf.score_cache, score, leaf.done_traj))
                    traj, value = leaf.done_traj, leaf.score_cache
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
                    value = combine([score], [traj], self.objective)[0]
                    completed.append((value, score, traj))
                assert value is not None
                length = len(traj.steps)
                for node in path:
                    node.visits += 1
                    node.value = max(node.value, (self.gamma ** (length - node.depth)) * value)
                per_rollout_steps.append(int(env_steps() - before))
                depths.append(length)

            if not completed:
                raise RuntimeError(
                    f"mcts on task {task_id}: no rollout completed (every action was invalid)"
                )
            finished = [c for c in completed if c[2].done] or completed
            _, best_score, best = max(finished, key=lambda c: c[0])
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
