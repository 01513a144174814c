"""MCTS cost per episode: ours vs the reference's replay-from-start, on Game of 24 and ScienceWorld.

    .venv/bin/python benchmarks/mcts_cost.py [--reps 5] [--game24-tasks 2] [--sw-tasks 1]
                                             [--skip scienceworld] [--device cpu] [--tiny]

Both sides run the same ``MCTSPlanner`` (``planner=mcts`` composed from ``conf/`` with the
benchmark's paper settings: Game of 24 100 rollouts, ScienceWorld 10 rollouts with horizon 10;
expansion 5), the same policy (``policy=random``: the policy-call count stands for LLM calls) and
the same MiniLM reward model (untrained weights; costs do not depend on them, and an untrained
model has no validation scores for ``value=cdf``: both sides back up ``value=sigmoid``), on the
first test puzzles / seen variations. They differ where the reference implementation differs:

- ``ours``: the env's own ``snapshot``/``restore`` (Game of 24: O(1) state objects;
  ScienceWorld: free when already there, forward steps, else one reload + replay of the prefix),
  valid actions only when the policy asks, the batched + cached ``RewardScorer``;
- ``replay``: :class:`ReplayFromStart` below: no snapshots, every transition resets the task and
  replays the whole action prefix before taking its action (O(depth^2) env steps per rollout),
  ScienceWorld's valid actions recomputed after every engine step (what the ``scienceworld``
  wrapper does), and every reward scored at batch 1 with no cache.

"env steps" counts every action the engine executes, replays included ("of which replayed":
ScienceWorld's ``restore`` replays for ours, the replayed prefixes for the baseline);
"steps/rollout" is env steps / rollouts and "depth" the mean rollout trajectory length.
Target: env steps per rollout <= depth + 1, checked on every rollout of ours from the planner's
own per-rollout count of ``env_steps`` (actions the policy chose, no replays): ``max excess``
= max over rollouts of (steps - depth - 1) must be <= 0.
Repetitions are interleaved; the table shows medians per episode.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Sequence
from typing import Any

from benchlib import apply_threads, device_arg, interleaved, result, table, tiny_arg
from hydra.utils import instantiate

from arm_exp.config import compose
from arm_exp.reward.render import Renderer
from arm_exp.reward.scorer import RewardScorer
from arm_exp.types import Trajectory


class ReplayFromStart:
    """An env seen the reference's way: no state save, every transition replayed from the start.

    ``snapshot`` is the action history; ``restore`` and every ``step`` reset the task and replay
    it. With ``valid_every_step`` the inner env's valid actions are computed after every engine
    step, replayed ones included.
    """

    cheap_snapshot = False

    def __init__(self, inner: Any, valid_every_step: bool) -> None:
        self.inner = inner
        self.benchmark = inner.benchmark
        self.valid_every_step = valid_every_step
        self._task: str | None = None
        self._history: list[str] = []
        self.replayed = 0

    def __getattr__(self, name: str) -> Any:  # task_type, task_meta, task_ids, intent, ...
        return getattr(self.inner, name)

    def _engine_step(self, action: str) -> Any:
        out = self.inner.step(action)
        if self.valid_every_step:
            self.inner.valid_actions()
        return out

    def _replay(self) -> None:
        assert self._task is not None
        self.inner.reset(self._task)
        for a in self._history:
            self._engine_step(a)
        self.replayed += len(self._history)

    def reset(self, task_id: str) -> str:
        self._task, self._history = task_id, []
        obs = self.inner.reset(task_id)
        if self.valid_every_step:
            self.inner.valid_actions()
        return obs

    def step(self, action: str) -> Any:
        self._replay()
        out = self._engine_step(action)
        self._history.append(action)
        return out

    def valid_actions(self) -> list[str]:
        return self.inner.valid_actions()

    def snapshot(self) -> tuple[str | None, tuple[str, ...]]:
        return self._task, tuple(self._history)

    def restore(self, snap: tuple[str, tuple[str, ...]]) -> None:
        self._task, self._history = snap[0], list(snap[1])
        self._replay()

    def counters(self) -> dict[str, float]:
        """The inner env's counters with replays moved from ``env_steps`` to ``replayed_steps``."""
        c = dict(self.inner.counters())
        c["env_steps"] = c.get("env_steps", 0) - self.replayed
        c["replayed_steps"] = c.get("replayed_steps", 0) + self.replayed
        return c

    def close(self) -> None:
        self.inner.close()


class OneAtATime:
    """The reference's scoring: one forward per trajectory, nothing cached."""

    def __init__(self, scorer: RewardScorer) -> None:
        self.scorer = scorer
        self._counters = {"rm_calls": 0.0, "rm_items": 0.0, "rm_forward_items": 0.0}

    def score(self, intents: list[str], trajectories: list[Trajectory]) -> list[float]:
        self._counters["rm_calls"] += 1
        self._counters["rm_items"] += len(trajectories)
        self._counters["rm_forward_items"] += len(trajectories)
        return self.scorer.score_one_at_a_time(intents, trajectories)

    def counters(self) -> dict[str, float]:
        return dict(self._counters)

    def threshold(self, quantile: float, of: str = "negative") -> float:
        return self.scorer.threshold(quantile, of)

    def unit(self, scores: Sequence[float]) -> list[float]:
        return self.scorer.unit(scores)


def env_total_steps(env: Any) -> float:
    c = env.counters()
    return float(c.get("env_steps", 0) + c.get("replayed_steps", 0))


def make_side(planner, env, policy, scorer, tasks: list[str]):
    """One contender: plans ``tasks``, returns per-episode cost records."""

    def run() -> list[dict[str, float]]:
        out = []
        for task in tasks:
            if isinstance(scorer, RewardScorer):
                scorer.clear_cache()  # each episode starts cold, like a fresh process
            s0 = env_total_steps(env)
            f0 = scorer.counters().get("rm_forward_items", 0.0)
            ep = planner.plan(task, env, policy, scorer)
            c = ep.counters
            steps = ep.meta["rollout_env_steps"]  # per rollout, from env_steps (no replays)
            depths = ep.meta["rollout_depths"]
            engine_steps = env_total_steps(env) - s0
            out.append(
                {
                    "env_steps": engine_steps,
                    "replayed": c.get("replayed_steps", 0.0),
                    "policy_calls": c.get("policy_calls", 0.0),
                    "rm_calls": c.get("rm_calls", 0.0),
                    "rm_forwards": scorer.counters().get("rm_forward_items", 0.0) - f0,
                    "wall_s": ep.wall_s,
                    "steps_per_rollout": engine_steps / len(steps),
                    "depth": statistics.fmean(depths),
                    "max_excess": float(max(s - d - 1 for s, d in zip(steps, depths, strict=True))),
                    "success": float(ep.success),
                }
            )
        return out

    return run


def bench(
    benchmark: str, tasks_n: int, args: argparse.Namespace, rm: RewardScorer, out_dir: str
) -> tuple[list[list], list[tuple]]:
    over = [f"benchmark={benchmark}", "policy=random", "scorer=none", "planner=mcts",
            "planner.value=sigmoid", *([f"planner.rollouts={args.rollouts}"] if args.rollouts else [])]  # fmt: skip
    cfg = compose("plan", over, out_dir)
    sw = benchmark.startswith("scienceworld")
    split = cfg.benchmark.eval_split
    env = instantiate(cfg.benchmark.env)
    tasks = env.task_ids(split)[:tasks_n]
    base = ReplayFromStart(env, valid_every_step=sw)
    planner = instantiate(cfg.planner)
    policy = instantiate(cfg.policy)
    ref_scorer = OneAtATime(rm)
    try:
        runs = interleaved(
            {
                "ours": make_side(planner, env, policy, rm, tasks),
                "replay": make_side(planner, base, policy, ref_scorer, tasks),
            },
            args.reps,
            warmup=0,
        )
    finally:
        env.close()
    rows, results = [], []
    med: dict[str, dict[str, float]] = {}
    for side, reps in runs.items():
        records = [r for _, recs in reps for r in recs]
        keys = records[0].keys()
        m = {k: statistics.median(r[k] for r in records) for k in keys}
        m["max_excess"] = max(r["max_excess"] for r in records)
        med[side] = m
        rows.append(
            [
                benchmark,
                side,
                len(tasks),
                f"{m['env_steps']:.0f}",
                f"{m['replayed']:.0f}",
                f"{m['steps_per_rollout']:.1f}",
                f"{m['depth']:.1f}",
                f"{m['max_excess']:.0f}" if side == "ours" else "-",
                f"{m['policy_calls']:.0f}",
                f"{m['rm_calls']:.0f}",
                f"{m['rm_forwards']:.0f}",
                f"{m['wall_s']:.2f}",
            ]
        )
    o, r = med["ours"], med["replay"]
    results.append(
        (f"mcts_cost_{benchmark}_max_steps_over_depth_plus_1", o["max_excess"], "<=0", "steps")
    )
    results.append(
        (f"mcts_cost_{benchmark}_env_steps_ratio", r["env_steps"] / o["env_steps"], "none", "ratio")
    )
    results.append(
        (f"mcts_cost_{benchmark}_wall_speedup", r["wall_s"] / o["wall_s"], "none", "ratio")
    )
    return rows, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--game24-tasks", type=int, default=2, help="first N test puzzles per rep")
    ap.add_argument("--sw-tasks", type=int, default=1, help="first N seen variations per rep")
    ap.add_argument("--skip", default="", help="comma-separated: game24,scienceworld")
    ap.add_argument("--rollouts", type=int, default=None, help="MCTS rollouts (the benchmark's)")
    device_arg(ap)
    tiny_arg(ap)
    args = ap.parse_args()
    if args.tiny:
        args.reps, args.game24_tasks, args.sw_tasks, args.rollouts = 1, 1, 1, 3
    apply_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    out_dir = tempfile.mkdtemp(prefix="bench_mcts_cost_")
    rows, results = [], []
    rm_cfg = compose("train", ["input_dir=unused"], out_dir)
    spec = instantiate(rm_cfg.reward_model)
    model = spec.build()
    for benchmark, n in (("game24", args.game24_tasks), ("scienceworld", args.sw_tasks)):
        if benchmark in skip:
            continue
        render = compose("train", ["input_dir=unused", f"benchmark={benchmark}"], out_dir)
        rm = RewardScorer(model, Renderer(**render.benchmark.render), device=args.device)
        r, res = bench(benchmark, n, args, rm, out_dir)
        rows += r
        results += res
    print(f"device: {args.device}; reps: {args.reps} (interleaved); medians per episode")
    print(
        table(
            [
                "benchmark",
                "side",
                "tasks",
                "env steps",
                "of which replayed",
                "steps/rollout",
                "depth",
                "max excess",
                "policy calls",
                "rm calls",
                "rm forwards",
                "wall s",
            ],
            rows,
        )
    )
    for res in results:
        result(*res)


if __name__ == "__main__":
    main()
