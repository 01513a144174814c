"""``arm-exp goals``: synthesize new task goals for a benchmark -> ``goals.jsonl``.

ARMAP's WebShop data starts here: products sampled outside the human test goals, an instruction
written for each from 1-2 chosen attributes and 0-2 option values (``goal_writer=llm``, the
synthesizer LLM, or ``goal_writer=rule``), each goal validated against the env's own reward
(:mod:`arm_exp.synthesis.webshop_goals`). The benchmark supplies the how
(``benchmark.goal_generator``; only WebShop has one); this stage the how many (``goals.*``,
``limit`` caps the number of products), batching, resumption and the counts.

Writes ``goals.jsonl`` (``{"id": ..., "goal": {...}}`` per line: the format of WebShop's
``benchmark.env.goals_file``), ``goal_attempts.jsonl`` (one line per request: what was written,
``status`` = ``ok`` or the drop reason, whether a search finds the target), ``metrics.json``
(``goals/n_valid``, ``goals/valid_share``, ``goals/dropped/<reason>``, ...) and
``manifest.json``. The next stage explores those goals::

    arm-exp explore benchmark=webshop split=extra benchmark.env.goals_file=<this dir>/goals.jsonl
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator

from hydra.utils import instantiate
from omegaconf import DictConfig

from arm_exp.artifacts import ResumableJsonl, atomic_write_text
from arm_exp.config import choice
from arm_exp.errors import ConfigError
from arm_exp.stages.base import Stage
from arm_exp.stages.record import StageRecord, collect

log = logging.getLogger(__name__)

GOALS = "goals.jsonl"
ATTEMPTS = "goal_attempts.jsonl"


def run(cfg: DictConfig) -> dict[str, float]:
    if cfg.benchmark.get("goal_generator") is None:
        raise ConfigError(
            f"benchmark={cfg.benchmark.name} has no `benchmark.goal_generator`: goal synthesis "
            "is defined for benchmark=webshop (ARMAP's WebShop pipeline)"
        )
    stage = StageRecord(cfg, STAGE)
    if stage.done:
        return stage.previous_metrics()
    num_products = int(cfg.goals.num_products)
    if cfg.get("limit") is not None:
        num_products = min(num_products, int(cfg.limit))
    batch_size = int(cfg.goals.batch_size)
    if batch_size < 1:
        raise ConfigError(f"goals.batch_size={batch_size}: must be >= 1")
    seed = int(cfg.seed)
    generator = instantiate(cfg.benchmark.goal_generator)
    writer = instantiate(cfg.goal_writer)
    try:
        requests = generator.requests(num_products, int(cfg.goals.per_product), seed)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if not requests:
        raise ConfigError(
            f"benchmark.goal_generator: no product left to sample outside "
            f"exclude_splits={list(cfg.benchmark.goal_generator.exclude_splits)}"
        )
    shots = generator.shots(int(getattr(writer, "num_shots", 0)), seed)
    stage.record_code()  # the code this run's records come from, all loaded by now
    store = ResumableJsonl(stage.dir / ATTEMPTS, dict, json.dumps, key=lambda r: r["id"])
    by_id = {r.id: r for r in requests}

    def produce(todo: list[str]) -> Iterator[dict]:
        for start in range(0, len(todo), batch_size):
            batch = [by_id[i] for i in todo[start : start + batch_size]]
            for outcome in generator.generate(batch, writer, shots):
                yield outcome.record()

    try:
        attempts, resumed = collect(
            store, list(by_id), produce, f"goals {choice('goal_writer', 'writer')}"
        )
    finally:
        writer.close()  # a managed LLM server stops here, not at interpreter exit
    ok = [a for a in attempts if a["status"] == "ok"]
    atomic_write_text(
        stage.dir / GOALS,
        "".join(json.dumps({"id": a["id"], "goal": a["goal"]}) + "\n" for a in ok),
    )
    metrics = _metrics(attempts, num_products, len(shots), writer.counters())
    stage.tag(benchmark=generator.env.benchmark)
    stage.count(
        goals=len(ok),
        requests=len(attempts),
        resumed=resumed,
        shots=len(shots),
        goal_writer=choice("goal_writer"),
        synthesizer_llm=choice("llm@synthesizer_llm") if "llm" in cfg.goal_writer else None,
        benchmark=generator.env.benchmark,  # webshop_mini on the bundled catalog
    )
    metrics = stage.finish(metrics)
    log.info("goals: %d of %d requests valid -> %s", len(ok), len(attempts), stage.dir / GOALS)
    return metrics


def _metrics(
    attempts: list[dict], num_products: int, n_shots: int, counters: dict[str, float]
) -> dict[str, float]:
    ok = [a for a in attempts if a["status"] == "ok"]
    n = len(attempts)
    metrics: dict[str, float] = {
        "goals/n_requests": n,
        "goals/n_products": len({a["asin"] for a in attempts}),
        "goals/n_products_asked": num_products,
        "goals/n_valid": len(ok),
        "goals/valid_share": len(ok) / n if n else 0.0,
        "goals/findable_share": (sum(bool(a["findable"]) for a in ok) / len(ok) if ok else 0.0),
        "goals/n_shots": n_shots,
        "goals/mean_attributes": _mean([len(a["attributes"]) for a in ok]),
        "goals/mean_options": _mean([len(a["options"]) for a in ok]),
    }
    for reason, k in Counter(a["status"] for a in attempts if a["status"] != "ok").items():
        metrics[f"goals/dropped/{reason}"] = k
    # With a fallback writer: why the first writer's text failed, and how many the fallback saved.
    for reason, k in Counter(a["fallback_after"] for a in attempts if a["fallback_after"]).items():
        metrics[f"goals/fallback_after/{reason}"] = k
    for writer, k in Counter(a["writer"] for a in ok).items():
        metrics[f"goals/valid_by_writer/{writer}"] = k
    metrics.update({f"goals/{k}": v for k, v in counters.items()})
    return metrics


def _mean(xs: list[int]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


STAGE = Stage(
    name="goals",
    run=run,
    reads=("benchmark", "goal_writer", "synthesizer_llm", "llm", "goals", "limit"),
    key=(
        "benchmark.name",
        "benchmark.env",
        "benchmark.goal_generator",
        "goal_writer",
        "goals",
        "limit",
        "seed",
    ),
    unkeyed={
        "synthesizer_llm": "the goal writer's node holds the LLM it uses",
        "llm": "the goal writer's node holds the LLM it uses",
        "goals.batch_size": "requests per batched call: the unit of resumption, not of results",
    },
    artifacts=(GOALS, ATTEMPTS),
)

if __name__ == "__main__":
    STAGE.main()
