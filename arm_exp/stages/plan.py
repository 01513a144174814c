"""``arm-exp plan``: run a planner with a policy and a scorer on a benchmark split.

Writes ``episodes.jsonl`` (one :class:`~arm_exp.types.Episode` per task, resumable) and
``metrics.json``: ``plan/<split>/success_rate`` (with its 95% Wilson interval ``ci_low`` /
``ci_high``), ``plan/<split>/score``, the mean per-episode costs (``llm_calls``, ``rm_calls``,
``rm_cache_hits``, ``env_steps``, ``wall_s``, ...), planner-specific means (Best-of-N's
``oracle_success`` and ``mean_success``, Reflexion's ``trials``, ...) and per-task-type rates.
The picked trajectory's ``actions`` and (WebShop) ``price_paid`` are always reported; with a
customizable reward target (``objective=fewer_actions|lower_price``, which fills
``planner.objective``) also ``objective_value`` and ``planning_value``, while ``score`` and the
success rate stay the benchmark's and ``scorer_score`` the scorer's own.
``rm_ckpt`` is required when ``scorer=rm``; a planner that needs a scorer refuses ``scorer=none``.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from arm_exp.artifacts import ResumableJsonl
from arm_exp.planning.base import PlanningError
from arm_exp.reward.scorer import resolve_checkpoint
from arm_exp.stages.common import (
    CONF_DIR,
    ConfigError,
    KeySpec,
    StageRun,
    benchmark_inputs,
    by_type_metrics,
    choice,
    container,
    objective,
    progress,
    select_tasks,
    summary,
)
from arm_exp.stats import mean, wilson
from arm_exp.types import Episode, to_json

log = logging.getLogger(__name__)

EPISODES = "episodes.jsonl"
KEY_FIELDS = ("benchmark", "split", "limit", "task_ids", "seed", "policy", "planner")
NEEDS_NO_SCORER = ("greedy", "sampling")


def _scorer_key(cfg: DictConfig) -> dict:
    """The scorer's config without the checkpoint path (the checkpoint enters by its key)."""
    node = cfg.get("scorer")
    if node is None:
        return {"scorer": None}
    return {"scorer": {k: container(node[k]) for k in node if k != "path"}}


def key_spec(cfg: DictConfig) -> KeySpec:
    """Config subtrees + the reward-model checkpoint (by its train run's key, not its path)."""
    planner_name = choice("planner", "planner")
    scorer_name = choice("scorer", "scorer")
    inputs = benchmark_inputs(cfg)
    if cfg.get("scorer") is not None and "path" in cfg.scorer:
        if OmegaConf.is_missing(cfg, "rm_ckpt") or not cfg.get("rm_ckpt"):
            raise ConfigError(
                f"scorer={scorer_name} needs rm_ckpt=PATH (a checkpoint or the run dir of `arm-exp train`)"
            )
        inputs["rm_ckpt"] = resolve_checkpoint(cfg.rm_ckpt)
    if cfg.get("scorer") is None and planner_name not in NEEDS_NO_SCORER:
        raise ConfigError(
            f"planner={planner_name} needs a scorer: scorer=rm rm_ckpt=PATH, scorer=oracle or scorer=policy_judge"
        )
    return KeySpec(KEY_FIELDS, inputs, _scorer_key(cfg))


def run(cfg: DictConfig) -> dict[str, float]:
    planner_name = choice("planner", "planner")
    scorer_name = choice("scorer", "scorer")
    spec = key_spec(cfg)
    inputs = spec.inputs
    stage = StageRun(cfg, "plan", spec, artifacts=[EPISODES])
    if stage.done:
        return stage.previous_metrics()
    env = instantiate(cfg.benchmark.env)
    tasks = select_tasks(env, cfg)
    policy = instantiate(cfg.policy)
    planner = instantiate(cfg.planner)
    scorer = instantiate(cfg.scorer) if cfg.get("scorer") is not None else None
    split = str(cfg.split)
    policy_name = choice("policy", "policy")
    store = ResumableJsonl(stage.dir / EPISODES, Episode.from_dict, to_json, key=lambda e: e.id)
    todo = [t for t in tasks if t not in store]
    try:
        with progress(
            len(tasks), f"plan {planner_name}/{scorer_name}", len(tasks) - len(todo)
        ) as bar:
            for task_id in todo:
                try:
                    episode = planner.plan(task_id, env, policy, scorer)
                except PlanningError as e:
                    raise ConfigError(str(e)) from None
                episode.id = task_id
                episode.split = split
                episode.policy = policy_name
                episode.scorer = scorer_name
                store.append(episode)
                bar.update()
    finally:
        store.close()
        env.close()
    episodes = store.finalize(tasks)
    metrics = episode_metrics(episodes, f"plan/{split}")
    stage.count(
        episodes=len(episodes),
        benchmark=episodes[0].benchmark if episodes else cfg.benchmark.name,  # e.g. webshop_mini
        split=split,
        policy=policy_name,
        planner=planner_name,
        objective=objective_label(cfg),
        scorer=scorer_name,
        backbone=choice("llm") if policy_name == "llm" or scorer_name == "policy_judge" else None,
        rm_ckpt=str(inputs.get("rm_ckpt")) if inputs.get("rm_ckpt") else None,
        policy_counters=policy.counters(),
        scorer_counters=scorer.counters() if scorer is not None else {},
    )
    return stage.finish(metrics)


def objective_label(cfg: DictConfig) -> str:
    """``"fewer_actions(w=0.1)"`` for a run with a customizable reward target, else ``""``."""
    node = cfg.planner.get("objective")
    if node is None:
        return ""
    name = choice("objective") or str(node.get("_target_", "objective")).rsplit(".", 1)[-1]
    return f"{name}(w={float(node.get('weight', 1.0)):g})"


def episode_metrics(episodes: list[Episode], prefix: str) -> dict[str, float]:
    """Success rate with its Wilson interval, mean score, and the mean of every counter."""
    n = len(episodes)
    wins = sum(e.success for e in episodes)
    lo, hi = wilson(wins, n)
    metrics = {
        f"{prefix}/n_tasks": float(n),
        f"{prefix}/success_rate": wins / n if n else 0.0,
        f"{prefix}/ci_low": lo,
        f"{prefix}/ci_high": hi,
        f"{prefix}/score": mean([e.score for e in episodes]),
        f"{prefix}/wall_s": mean([e.wall_s for e in episodes]),
    }
    counters: dict[str, list[float]] = defaultdict(list)
    for e in episodes:
        for k, v in e.counters.items():
            counters[k].append(float(v))
    for k, vs in counters.items():
        metrics[f"{prefix}/{k}"] = mean(vs)
    traj_like = [e.trajectory for e in episodes]
    metrics.update(
        by_type_metrics(prefix, traj_like, "success_rate", lambda ts: mean([t.success for t in ts]))
    )
    metrics.update(
        by_type_metrics(prefix, traj_like, "score", lambda ts: mean([t.score for t in ts]))
    )
    return metrics


@hydra.main(config_path=CONF_DIR, config_name="plan", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    metrics = run(cfg)
    print(summary(metrics))
    return objective(cfg, metrics)
