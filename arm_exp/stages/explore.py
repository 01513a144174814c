"""``arm-exp explore``: run an explorer (random or LLM) on a benchmark split.

Writes ``trajectories.jsonl`` (one :class:`~arm_exp.types.Trajectory` per line, record id
``<task_id>#<k>`` for the k-th of ``explore.num_per_task`` runs per task), ``metrics.json``
and ``manifest.json``. Resumable: an interrupted run continues with the missing records, and the
file is rewritten in task order at the end, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import logging
import statistics
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from arm_exp.agents.base import server_width
from arm_exp.artifacts import ResumableJsonl
from arm_exp.config import choice
from arm_exp.errors import ConfigError
from arm_exp.rollout import EpisodeJob, Rollouts, derive_seed
from arm_exp.stages.base import Stage
from arm_exp.stages.record import (
    StageRecord,
    benchmark_inputs,
    check_benchmark_inputs,
    collect,
    select_tasks,
)
from arm_exp.stats import by_type_metrics
from arm_exp.types import Trajectory, to_json

log = logging.getLogger(__name__)

TRAJECTORIES = "trajectories.jsonl"
# Benchmark knobs that only planning reads: sweeping them reuses the exploration.
PLANNING_ONLY = ("benchmark.eval_split", "benchmark.planning", "benchmark.report_metric")


def run(cfg: DictConfig) -> dict[str, float]:
    stage = StageRecord(cfg, STAGE)
    spec = stage.spec
    if stage.done:
        return stage.previous_metrics()
    num_per_task = int(cfg.explore.num_per_task)
    if num_per_task < 1:
        raise ConfigError(f"explore.num_per_task={num_per_task}: must be >= 1")
    make_env = instantiate(cfg.benchmark.env, _partial_=True)
    probe = make_env()
    try:
        check_benchmark_inputs(spec.inputs, probe)
        tasks = select_tasks(probe, cfg)
    finally:
        probe.close()
    jobs = {
        f"{t}#{k}": EpisodeJob(
            id=f"{t}#{k}", task_id=t, seed=derive_seed(int(cfg.seed), "explore", t, k)
        )
        for t in tasks
        for k in range(num_per_task)
    }
    policy = instantiate(cfg.explorer)
    num_envs = episodes_in_flight(cfg.explore.num_envs, int(cfg.benchmark.num_envs), policy)
    runner = Rollouts(
        make_env,
        policy,
        num_envs=num_envs,
        invalid_action_retries=int(cfg.explore.invalid_action_retries),
        max_steps=int(cfg.explore.max_steps),
    )
    split = str(cfg.split)
    stage.record_code()  # the code this run's records come from, all loaded by now
    store = ResumableJsonl(
        stage.dir / TRAJECTORIES, Trajectory.from_dict, to_json, key=lambda t: t.id
    )
    try:
        records, resumed = collect(
            store,
            list(jobs),
            lambda todo: runner.run([jobs[i] for i in todo]),
            f"explore {cfg.benchmark.name}/{split}",
            postfix=lambda s: {"reach": f"{_share(s.records.values()):.2f}"},
        )
        counters = {**runner.counters(), **policy.counters()}
    finally:
        runner.close()
        policy.close()  # a managed LLM server stops here, not at interpreter exit
    metrics = _metrics(f"explore/{split}", len(tasks), records, counters)
    metrics[f"explore/{split}/num_envs"] = float(runner.num_envs)
    llm_explorer = "llm" in cfg.explorer or "policies" in cfg.explorer  # llm, llm_pair
    explorer_llm = choice("llm@explorer_llm") if llm_explorer else None
    stage.tag(benchmark=records[0].benchmark if records else None, backbone=explorer_llm)
    stage.count(
        trajectories=len(records),
        resumed=resumed,
        explorer=choice("explorer"),
        explorer_llm=explorer_llm,
        benchmark=records[0].benchmark if records else str(cfg.benchmark.name),
    )
    return stage.finish(metrics)


def episodes_in_flight(num_envs: int | None, benchmark_num_envs: int, policy: Any) -> int:
    """``explore.num_envs``, or when it is null: ``benchmark.num_envs`` (what an in-process
    model batches well, what the benchmark's envs cost), raised to what the LLM servers behind
    the explorer admit at once (:func:`~arm_exp.agents.base.server_width`: vLLM schedules up to
    ``--max-num-seqs`` sequences; 16 WebShop episodes would leave most of that idle). Envs
    with a heavy engine still cap the pool to what fits in memory
    (:class:`~arm_exp.rollout.Rollouts`). A server's answers do not depend on how many requests
    share it, so the trajectories do not depend on this either."""
    if num_envs is not None:
        if num_envs < 1:
            raise ConfigError(f"explore.num_envs={num_envs}: must be >= 1 (or null)")
        return num_envs
    return max(benchmark_num_envs, server_width(policy))


def _metrics(
    prefix: str, n_tasks: int, records: list[Trajectory], counters: dict[str, float]
) -> dict[str, float]:
    """What the trajectories reached (overall and per task type), and the run's counters."""
    return {
        f"{prefix}/n_tasks": n_tasks,
        f"{prefix}/n_trajectories": len(records),
        f"{prefix}/success_share": _share(records),
        f"{prefix}/mean_score": statistics.fmean(r.score for r in records) if records else 0.0,
        f"{prefix}/mean_steps": statistics.fmean(len(r.steps) for r in records) if records else 0.0,
        f"{prefix}/tasks_with_success": len({r.task_id for r in records if r.success}),
        **{f"{prefix}/{k}": v for k, v in counters.items()},
        **by_type_metrics(prefix, records, "success_share", _share),
        **by_type_metrics(
            prefix, records, "mean_score", lambda rs: statistics.fmean(r.score for r in rs)
        ),
    }


def _share(records) -> float:
    records = list(records)
    return sum(r.success for r in records) / len(records) if records else 0.0


STAGE = Stage(
    name="explore",
    run=run,
    reads=(
        "benchmark",
        "explorer",
        "explorer_llm",
        "explorer2_llm",
        "llm",
        "explore",
        "split",
        "limit",
        "task_ids",
    ),
    key=("benchmark", "explorer", "split", "limit", "task_ids", "seed", "explore"),
    key_exclude=PLANNING_ONLY,
    inputs=benchmark_inputs,
    unkeyed={
        "explorer_llm": "the explorer's node holds the LLM it uses",
        "explorer2_llm": "the explorer's node holds the LLM it uses",
        "llm": "the explorer's node holds the LLM it uses",
    },
    artifacts=(TRAJECTORIES,),
)

if __name__ == "__main__":
    STAGE.main()
