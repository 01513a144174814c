"""``arm-exp synthesize``: explored trajectories -> ``triplets.jsonl`` (intent, positive, negative)
or, with ``synthesis=mc_values``, ``values.jsonl`` (prefixes with Monte Carlo values).

Reads ``<input_dir>/trajectories.jsonl`` (the run dir of ``arm-exp explore``); the strategy is
``synthesis=rule|llm`` and the benchmark's ``synthesis_kit`` supplies its prompts, parsers,
perturbations and validators; ``synthesis=mc_values`` (beyond ARMAP) labels prefixes by running
the exploring policy from them instead (:mod:`arm_exp.synthesis.mc_values`; its share of
non-zero labels is ``synth/nonzero_share``). Writes the records and ``synthesis_progress.jsonl``
(one line per source trajectory: what it yielded and what was dropped, and why), both
resumable. Identical records (same intent, positive and negative text; same intent and prefix)
are kept once.

A run that keeps no triplet fails (:class:`~arm_exp.errors.StageFailed`: no reward model can
be trained on nothing, and the cause is here, not in ``train``); one where fewer than
:data:`LOW_YIELD` of the sources yield a triplet warns. Both name the main drop reasons and the
knob behind each (``benchmark.synthesis_kit.min_positive_score``, ...).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from arm_exp.artifacts import ResumableJsonl, input_file, read_records
from arm_exp.config import choice
from arm_exp.errors import ConfigError, StageFailed
from arm_exp.stages.base import Stage
from arm_exp.stages.record import StageRecord, collect
from arm_exp.synthesis.base import drop_knob
from arm_exp.types import Trajectory, Triplet, ValueLabel, to_json

log = logging.getLogger(__name__)

TRIPLETS = "triplets.jsonl"
VALUES = "values.jsonl"
PROGRESS = "synthesis_progress.jsonl"
# Below this share of sources yielding a triplet, a run warns: a reward model trained on what
# is left sees a few tasks only.
LOW_YIELD = 0.1


def _content_hash(r: Triplet | ValueLabel) -> str:
    if isinstance(r, ValueLabel):
        parts = [r.intent, r.prefix.actions]
    else:
        parts = [r.intent, r.positive.actions, r.negative.actions]
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=16).hexdigest()


def inputs(cfg: DictConfig) -> dict[str, Path]:
    """The explore run's trajectories (``input_dir``)."""
    path = input_file(
        cfg.get("input_dir"), "trajectories.jsonl", config_key="input_dir", producer="explore"
    )
    return {"trajectories": path}


def run(cfg: DictConfig) -> dict[str, float]:
    stage = StageRecord(cfg, STAGE)
    traj_path = stage.spec.inputs["trajectories"]
    if stage.done:
        return stage.previous_metrics()
    read_stats: dict[str, int] = {}
    trajectories = _sources(cfg, traj_path, read_stats)
    synth = instantiate(cfg.synthesis)
    try:
        return _synthesize(cfg, stage, synth, trajectories, read_stats)
    finally:
        close = getattr(synth, "close", None)  # mc_values: its policy's LLM, its env
        if callable(close):
            close()


def _synthesize(
    cfg: DictConfig,
    stage: StageRecord,
    synth: Any,
    trajectories: list[Trajectory],
    read_stats: dict[str, int],
) -> dict[str, float]:
    synth.prepare(trajectories)
    stage.record_code()  # the code this run's records come from, all loaded by now
    values = getattr(synth, "records", "triplets") == "values"
    kind: type[Triplet] | type[ValueLabel] = ValueLabel if values else Triplet
    store: ResumableJsonl = ResumableJsonl(
        stage.dir / (VALUES if values else TRIPLETS), kind.from_dict, to_json, key=lambda t: t.id
    )
    done = ResumableJsonl(stage.dir / PROGRESS, dict, json.dumps, key=lambda r: r["source"])
    seen = {_content_hash(t) for t in store.records.values()}
    by_id = {t.id: t for t in trajectories}

    def produce(todo: list[str]) -> Iterator[dict[str, Any]]:
        """One progress line per source; its records are appended first (so a source whose
        line is written has all of its records on disk)."""
        for start in range(0, len(todo), synth.batch_size):
            batch = [by_id[i] for i in todo[start : start + synth.batch_size]]
            for res in synth.synthesize(batch):
                dropped = dict(res.dropped)
                for t in res.values if values else res.triplets:
                    if t.id in store:
                        # Written before an interruption that came before this source's
                        # progress line: it was kept then (its hash is in `seen`), so it
                        # is not a duplicate now.
                        continue
                    h = _content_hash(t)
                    if h in seen:
                        dropped["duplicate"] = dropped.get("duplicate", 0) + 1
                        continue
                    seen.add(h)
                    store.append(t)
                yield {"source": res.source_id, "kept": res.kept, "dropped": dropped}

    try:
        progress_records, resumed = collect(
            done, list(by_id), produce, f"synthesize {choice('synthesis', 'synthesis')}"
        )
    finally:
        store.close()
    by_source = {r["source"]: i for i, r in enumerate(progress_records)}

    def order(record_id: str) -> tuple[int, int]:
        r = store.records[record_id]
        at = r.meta.get("prefix_steps") if values else _index(record_id)
        return by_source.get(r.meta.get("source"), 0), int(at or 0)

    records = store.finalize(sorted(store.records, key=order))
    metrics = (_value_metrics if values else _metrics)(records, progress_records, synth.counters())
    warning = _check_yield(
        records, progress_records, getattr(synth, "kit", None), stage.dir / PROGRESS, values
    )
    synthesizer_llm = choice("llm@synthesizer_llm") if "llm" in cfg.synthesis else None
    stage.tag(benchmark=trajectories[0].benchmark, backbone=synthesizer_llm)
    stage.count(
        benchmark=trajectories[0].benchmark,
        records="values" if values else "triplets",
        **{"values" if values else "triplets": len(records)},
        sources=len(progress_records),
        resumed_sources=resumed,
        kept=dict(_sum(progress_records, "kept")),
        dropped=dict(_sum(progress_records, "dropped")),
        read=read_stats,
        synthesis=choice("synthesis"),
        synthesizer_llm=synthesizer_llm,
        warnings=[warning] if warning else [],
    )
    return stage.finish(metrics)


def _sources(cfg: DictConfig, path: Path, read_stats: dict[str, int]) -> list[Trajectory]:
    """The explored trajectories of the first ``limit`` tasks (all without one); an empty file
    or one made on another benchmark is refused."""
    trajectories = read_records(
        path, Trajectory.from_dict, skip_bad=bool(cfg.synthesize.skip_bad), stats=read_stats
    )
    if not trajectories:
        raise ConfigError(f"input_dir={cfg.input_dir}: {path.name} is empty")
    # A benchmark may label runs on stand-in data (WebShop's bundled mini catalog: webshop_mini).
    name = str(cfg.benchmark.name)
    wrong = {
        t.benchmark
        for t in trajectories
        if t.benchmark != name and not t.benchmark.startswith(name + "_")
    }
    if wrong:
        raise ConfigError(
            f"input_dir={cfg.input_dir} holds {sorted(wrong)} trajectories but benchmark={cfg.benchmark.name}"
        )
    if cfg.get("limit") is None:
        return trajectories
    keep = set(list(dict.fromkeys(t.task_id for t in trajectories))[: int(cfg.limit)])
    return [t for t in trajectories if t.task_id in keep]


def _check_yield(
    records: list[Triplet] | list[ValueLabel],
    progress_records: list[dict[str, Any]],
    kit: object,
    progress: Any,
    values: bool = False,
) -> str | None:
    """Fail on no record, warn on few (module docstring); returns the warning, if any."""
    sources = len(progress_records)
    yielding = sum(1 for r in progress_records if sum(r.get("kept", {}).values()))
    if records and yielding >= LOW_YIELD * sources:
        return None
    dropped = _sum(progress_records, "dropped").most_common()
    reasons = "; ".join(
        f"{reason} x{n}" + (f" ({knob})" if (knob := drop_knob(kit, reason)) else "")
        for reason, n in dropped[:4]
    )
    what = (
        f"synthesize kept {len(records)} {'value labels' if values else 'triplets'}: {yielding} "
        f"of {sources} source trajectories "
        f"yielded one; dropped: {reasons or 'nothing'} (per source: {progress}; README: "
        "'How much exploration')"
    )
    if not records:
        raise StageFailed(f"{what}; no reward model can be trained on nothing")
    log.warning("%s", what)
    return what


def _index(triplet_id: str) -> int:
    try:
        return int(triplet_id.rsplit("|", 1)[1])
    except (IndexError, ValueError):
        return 0


def _sum(progress_records: list[dict[str, Any]], field: str) -> Counter:
    total: Counter = Counter()
    for r in progress_records:
        total.update(r.get(field, {}))
    return total


def _metrics(
    records: list[Triplet], progress_records: list[dict[str, Any]], counters: dict[str, float]
) -> dict[str, float]:
    positives = {(t.intent, json.dumps([s.action for s in t.positive.steps])) for t in records}
    metrics: dict[str, float] = {
        "synth/n_triplets": len(records),
        "synth/n_sources": len(progress_records),
        "synth/n_positives": len(positives),
        "synth/sources_with_triplets": sum(
            1 for r in progress_records if sum(r.get("kept", {}).values())
        ),
        "synth/hindsight_share": (
            sum(1 for t in records if t.positive.meta.get("hindsight")) / len(records)
            if records
            else 0.0
        ),
    }
    for kind, n in Counter(t.meta.get("negative_kind", "unknown") for t in records).items():
        metrics[f"synth/kept/{kind}"] = n
    for reason, n in _sum(progress_records, "dropped").items():
        metrics[f"synth/dropped/{reason}"] = n
    metrics.update({f"synth/{k}": v for k, v in counters.items()})
    return metrics


def _value_metrics(
    records: list[ValueLabel], progress_records: list[dict[str, Any]], counters: dict[str, float]
) -> dict[str, float]:
    """How many prefixes were labelled and how informative the labels are: the share of
    non-zero values (with a weak exploring policy most are 0), the mean value, the share
    labelled by the episode's own end (no rollout)."""
    n = len(records)
    metrics: dict[str, float] = {
        "synth/n_values": n,
        "synth/n_sources": len(progress_records),
        "synth/sources_with_values": sum(
            1 for r in progress_records if sum(r.get("kept", {}).values())
        ),
        "synth/nonzero_share": sum(r.value > 0 for r in records) / n if n else 0.0,
        "synth/mean_value": sum(r.value for r in records) / n if n else 0.0,
        "synth/exact_share": sum(bool(r.meta.get("exact")) for r in records) / n if n else 0.0,
    }
    for reason, n_dropped in _sum(progress_records, "dropped").items():
        metrics[f"synth/dropped/{reason}"] = n_dropped
    metrics.update({f"synth/{k}": v for k, v in counters.items()})
    return metrics


STAGE = Stage(
    name="synthesize",
    run=run,
    reads=(
        "benchmark",
        "synthesis",
        "synthesizer_llm",
        "llm",
        "explorer",
        "explorer_llm",
        "explorer2_llm",
        "synthesize",
        "input_dir",
        "limit",
    ),
    key=("benchmark.name", "benchmark.synthesis_kit", "synthesis", "limit", "seed"),
    inputs=inputs,
    unkeyed={
        "input_dir": "an input: keyed by its run's key",
        "synthesizer_llm": "the synthesis node holds the LLM it uses",
        "llm": "the synthesis node holds the LLM it uses",
        "explorer": "synthesis=mc_values holds the exploring policy it uses (${explorer})",
        "explorer_llm": "the synthesis node holds the LLM it uses",
        "explorer2_llm": "the synthesis node holds the LLM it uses",
        "synthesize.skip_bad": "skip malformed input lines or fail: no two results differ",
    },
    artifacts=(TRIPLETS, VALUES, PROGRESS),
)

if __name__ == "__main__":
    STAGE.main()
