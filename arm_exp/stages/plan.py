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
A reward model trained on another benchmark is refused unless ``plan.allow_rm_from`` names that
benchmark (held-out transfer, beyond ARMAP: AgentRM's held-out evaluation); the benchmark it
was trained on is recorded either way (``rm_trained_on``: the manifest's counts, the trackers'
tags, the report's column).

Up to ``plan.concurrency`` tasks run at once (:func:`~arm_exp.planning.runner.plan_tasks`;
default: the LLM server's ``llm.max_concurrency``, else 1); the episodes do not depend on it.
``wall_s`` is then each task's own wall time (the stage's is in the manifest). The LLM backend's
stage totals join the metrics: ``llm_requests``, ``llm_retries``, ``llm_request_p50_s`` /
``llm_request_p95_s``, ``llm_peak_in_flight`` (a server) or ``llm_batches`` (an in-process
model's merged runs), and ``concurrency``.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from arm_exp.artifacts import ResumableJsonl, checkpoint_lineage, load_manifest
from arm_exp.config import choice
from arm_exp.errors import ConfigError
from arm_exp.llm.shared import SharedLLMs
from arm_exp.planning.runner import default_concurrency, live_counters, plan_tasks
from arm_exp.reward.scorer import resolve_checkpoint
from arm_exp.stages.base import Stage
from arm_exp.stages.record import (
    StageRecord,
    benchmark_inputs,
    check_benchmark_inputs,
    collect,
    same_benchmark,
    select_tasks,
    upstream_benchmark,
    upstream_label,
)
from arm_exp.stats import by_type_metrics, mean, mean_ci, wilson
from arm_exp.types import Episode, to_json

log = logging.getLogger(__name__)

EPISODES = "episodes.jsonl"


def uses_scorer(cfg: DictConfig) -> bool:
    """Whether the planner ranks by a scorer (greedy and sampling do not: they plan without)."""
    return bool(getattr(get_class(str(cfg.planner._target_)), "uses_scorer", True))


def needs_checkpoint(cfg: DictConfig) -> bool:
    """Whether this plan run reads a reward-model checkpoint (``scorer=rm`` for a planner that
    uses its scorer)."""
    return uses_scorer(cfg) and cfg.get("scorer") is not None and "path" in cfg.scorer


def scorer_name(cfg: DictConfig) -> str:
    return (choice("scorer") or "scorer") if uses_scorer(cfg) else "none"


def unused_scorer(cfg: DictConfig) -> dict[str, None]:
    """A planner that ranks by no scorer plans the same with any: its ``scorer`` is not keyed."""
    return {} if uses_scorer(cfg) else {"scorer": None}


def inputs(cfg: DictConfig) -> dict[str, Path]:
    """The benchmark's data files and the reward-model checkpoint (by its train run's key, not
    its path); refuses a planner without the scorer it needs."""
    planner_name = choice("planner", "planner")
    found = benchmark_inputs(cfg)
    if needs_checkpoint(cfg):
        if not cfg.get("rm_ckpt"):
            raise ConfigError(
                f"scorer={scorer_name(cfg)} needs rm_ckpt=PATH (a checkpoint or the run dir of "
                "`arm-exp train`)"
            )
        found["rm_ckpt"] = resolve_checkpoint(cfg.rm_ckpt)
    if cfg.get("scorer") is None and uses_scorer(cfg):
        raise ConfigError(
            f"planner={planner_name} needs a scorer: scorer=rm rm_ckpt=PATH, scorer=oracle or "
            "scorer=policy_judge"
        )
    return found


def run(cfg: DictConfig) -> dict[str, float]:
    planner_name = choice("planner", "planner")
    scorer_label = scorer_name(cfg)
    spec = STAGE.key_spec(cfg)
    found = spec.inputs
    rm_trained_on = rm_benchmark(cfg, found["rm_ckpt"]) if "rm_ckpt" in found else None
    stage = StageRecord(cfg, STAGE, spec)
    if stage.done:
        return stage.previous_metrics()
    if not uses_scorer(cfg) and cfg.get("scorer") is not None:
        log.info("plan: planner=%s uses no scorer; scorer=%s is not loaded", planner_name,
                 choice("scorer"))  # fmt: skip
    train_run = _train_run(found["rm_ckpt"]) if "rm_ckpt" in found else {}
    make_env = instantiate(cfg.benchmark.env, _partial_=True)
    probe = make_env()
    try:
        check_benchmark_inputs({k: v for k, v in found.items() if k != "rm_ckpt"}, probe)
        tasks = select_tasks(probe, cfg)
    finally:
        probe.close()
    llms = SharedLLMs()  # policy=llm scorer=policy_judge: one backbone, not two
    policy = llms.instantiate(cfg.policy)
    planner = instantiate(cfg.planner)
    scorer = llms.instantiate(cfg.scorer) if uses_scorer(cfg) and cfg.get("scorer") else None
    concurrency = cfg.plan.concurrency or default_concurrency(policy, scorer)
    split = str(cfg.split)
    policy_name = str(choice("policy", "policy"))

    def produce(todo: list[str]) -> Iterator[Episode]:
        with closing(plan_tasks(todo, make_env, planner, policy, scorer, concurrency)) as done:
            for episode in done:
                episode.split = split
                episode.policy = policy_name
                episode.scorer = scorer_label
                yield episode

    stage.record_code()  # the code this run's records come from, all loaded by now
    store = ResumableJsonl(stage.dir / EPISODES, Episode.from_dict, to_json, key=lambda e: e.id)
    try:
        episodes, _ = collect(
            store,
            tasks,
            produce,
            f"plan {planner_name}/{scorer_label}",
            heartbeat=live_counters(policy, scorer),
        )
    finally:
        llms.close()
        close = getattr(scorer, "close", None)
        if close is not None:
            close()  # the scorer's workers and managed server (scorer=vllm_pooling)
    metrics = episode_metrics(episodes, f"plan/{split}")
    metrics[f"plan/{split}/concurrency"] = float(concurrency)
    metrics.update({f"plan/{split}/{k}": v for k, v in llms.backend_counters().items()})
    uses_llm = "llm" in cfg.policy or (scorer is not None and "llm" in cfg.scorer)
    benchmark = episodes[0].benchmark if episodes else str(cfg.benchmark.name)
    report_metric = str(OmegaConf.select(cfg, "benchmark.report_metric", default="success_rate"))
    stage.tag(
        benchmark=benchmark,  # e.g. webshop_mini
        report_metric=report_metric,
        backbone=choice("llm") if uses_llm else None,
        reward_model=train_run.get("reward_model"),
        loss=train_run.get("loss"),
        rm_trained_on=rm_trained_on,
    )
    stage.count(
        episodes=len(episodes),
        benchmark=benchmark,
        split=split,
        policy=policy_name,
        planner=planner_name,
        objective=objective_label(cfg),
        scorer=scorer_label,
        backbone=choice("llm") if uses_llm else None,
        rm_ckpt=str(Path(found["rm_ckpt"]).resolve()) if "rm_ckpt" in found else None,
        reward_model=train_run.get("reward_model"),
        loss=train_run.get("loss"),
        rm_trained_on=rm_trained_on,
        report_metric=report_metric,
        policy_counters=policy.counters(),
        scorer_counters=scorer.counters() if scorer is not None else {},
    )
    return stage.finish(metrics, tables={"plan/episodes": episodes_table(episodes)})


EPISODE_COLUMNS = ["task_id", "success", "score", "scorer_score", "actions", "candidates",
                   "wall_s", "counters"]  # fmt: skip


def episodes_table(episodes: list[Episode]) -> tuple[list[str], list[list]]:
    """Per-episode results as a tracker table (W&B: ``plan/episodes``), one row per task."""
    rows = [
        [e.task_id, bool(e.success), float(e.score), e.scorer_score, len(e.trajectory.steps),
         len(e.candidates), float(e.wall_s), json.dumps(e.counters, sort_keys=True)]
        for e in episodes
    ]  # fmt: skip
    return EPISODE_COLUMNS, rows


def rm_benchmark(cfg: DictConfig, ckpt: Path) -> str | None:
    """The benchmark the reward model ``ckpt`` was trained on (None: a hand-made checkpoint).
    Another benchmark than this run's is refused unless ``plan.allow_rm_from`` names it."""
    label = upstream_label(ckpt)
    allowed = cfg.plan.get("allow_rm_from")
    if label and allowed and same_benchmark(str(allowed), label):
        if not same_benchmark(str(cfg.benchmark.name), label):
            log.info("plan: held-out transfer: a reward model of %s on %s (plan.allow_rm_from)",
                     label, cfg.benchmark.name)  # fmt: skip
        return label
    try:
        upstream_benchmark(cfg, ckpt, "rm_ckpt")
    except ConfigError as e:
        raise ConfigError(
            f"{e}, or plan.allow_rm_from={label} to plan with it on purpose (held-out transfer)"
        ) from None
    return label


def _train_run(ckpt: Path) -> dict[str, str]:
    """The reward model and loss of the train run that wrote ``ckpt``: the checkpoint's own
    lineage, else its train run's manifest (older checkpoints); empty if hand-made."""
    lineage = checkpoint_lineage(ckpt)
    if lineage:
        return {k: str(lineage[k]) for k in ("reward_model", "loss") if lineage.get(k)}
    for d in list(Path(ckpt).parents)[:3]:
        if (d / "manifest.json").exists():
            counts = load_manifest(d).get("counts", {})
            return {k: str(counts[k]) for k in ("reward_model", "loss") if counts.get(k)}
    return {}


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
    scores = [e.score for e in episodes]
    score_lo, score_hi = mean_ci(scores)
    metrics = {
        f"{prefix}/n_tasks": float(n),
        f"{prefix}/success_rate": wins / n if n else 0.0,
        f"{prefix}/ci_low": lo,
        f"{prefix}/ci_high": hi,
        f"{prefix}/score": mean(scores),
        f"{prefix}/score_ci_low": score_lo,
        f"{prefix}/score_ci_high": score_hi,
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


STAGE = Stage(
    name="plan",
    run=run,
    reads=(
        "benchmark",
        "llm",
        "policy",
        "planner",
        "objective",
        "scorer",
        "rm_ckpt",
        "split",
        "limit",
        "task_ids",
        "plan",
    ),
    key=("benchmark", "split", "limit", "task_ids", "seed", "policy", "planner", "scorer"),
    key_exclude=("scorer.path", "scorer.merge_calls"),
    key_extra=unused_scorer,
    inputs=inputs,
    unkeyed={
        "llm": "the policy's and the scorer's nodes hold the LLM they use",
        "objective": "lands in planner.objective",
        "rm_ckpt": "an input: keyed by its train run's key",
        "scorer.path": "the checkpoint: keyed by its train run's key (rm_ckpt)",
        "scorer.merge_calls": "how concurrent tasks share forward passes, not what they score",
        "plan.concurrency": "how many tasks run at once; the episodes do not depend on it",
        "plan.allow_rm_from": "permits another benchmark's reward model, keyed as rm_ckpt",
    },
    artifacts=(EPISODES,),
    reads_checkpoint=needs_checkpoint,
)

if __name__ == "__main__":
    STAGE.main()
