"""``arm-exp report``: tables and plots from plan runs (a multirun sweep dir or run dirs).

Finds every complete ``plan`` run under ``input_dir`` (and ``input_dirs``; only a run dir's own
``manifest.json`` counts, never a copy inside it such as W&B's), reads each run's settings along
its lineage (:mod:`arm_exp.compare`: the plan run and its reward model's train, synthesize and
explore runs) and makes one row per configuration: the identity columns (benchmark, split,
policy, planner, scorer, backbone, reward model, loss, objective) plus every setting that
differs among the runs reported (the *axes*, e.g. ``train.data.train_fraction``). Keys in
``report.pool`` (default ``[seed]``) are repeats, pooled into their row. The task is the
statistical unit: a row's rate is the mean over its tasks of each task's success rate (its
repeats averaged first), with a Wilson interval over the number of tasks
(:func:`arm_exp.stats.rate_over_tasks`); with several repeats, the mean +- std across them too.
Each row is compared with its baseline row (``report.baseline``, by default ``{scorer: none}``)
over the tasks both ran (:func:`arm_exp.stats.paired_test`). It writes:

- ``report.csv``: the columns fixed by the design (``benchmark, split, policy, planner, scorer,
  n_tasks, success_rate, ci_low, ci_high, score, llm_calls, rm_calls, env_steps, wall_s``; costs
  are means per episode; ``llm_calls`` counts calls to an LLM, 0 for a policy without one),
  then ``report_metric, score_ci_low, score_ci_high, backbone, reward_model, loss,
  oracle_success, mean_success, rm_cache_hits, runs, objective, actions, price_paid, max_score,
  final_score, policy_calls, proposals, rm_trained_on`` (``policy_calls``: the policy's
  proposal calls, one batched call per step of the episodes in flight, whatever the policy;
  ``proposals``: the samples asked of the policy per episode; ``rm_trained_on``: the benchmark
  of a reward model that guided another one, ``plan.allow_rm_from``, else empty; ``objective``: the customizable
  reward target, e.g. ``fewer_actions(w=0.1)``, empty for the pure scorer; ``actions`` and
  ``price_paid``: means over the picked trajectories, the price over those that bought
  something; ``max_score, final_score``: ScienceWorld's running max of the score, which ARMAP
  reports and ``score`` is by default, and the score at the end), then ``repeats, repeat_mean,
  repeat_std`` (distinct values of the pooled keys; the success rate's mean and sample std
  across them), ``baseline, paired_tasks, diff, diff_ci_low, diff_ci_high, p_value, test``
  (the comparison with the baseline row: the difference of the headline metric over the common
  tasks, its 95% paired-bootstrap interval and the p of the exact McNemar test, or of the
  paired bootstrap where a row pools repeats or compares scores), then one column per axis;
- ``report.md``: the same as a Markdown table (axes after ``scorer``), then notes: what the
  rows differ in, what was pooled, the baseline (or why there is no comparison), runs whose
  lineage could not be read;
- ``report_pivot.md`` / ``.csv``: the paper's table (:func:`pivot`);
- ``success_vs_n.png``: for runs of planners whose candidates are independent samples (the
  class declares ``iid_candidates = True``: Best-of-N), success of the scorer's pick among k of
  the N samples (k = 1, 2, 4, ..., N; expectation over random subsets), with the oracle (any of
  k) and the mean;
- ``planners.png``: success rate per planner, one bar per combination of the other columns
  that vary (axes included), with the intervals over tasks;
- ``success_vs_proposals.png``: success rate against the policy's proposals per task (the
  compute each planner spent), one curve per combination of the identity columns that vary
  (e.g. scorer family x planner): a point per row (rows that differ in a budget axis join one
  curve) and, for planners with independent candidates, the picks among k of their N
  candidates at k / N of their proposals.

Plot legends and the W&B scalars (``report/<benchmark>/<split>/.../<axis>=<value>/
success_rate``) name each row by its identity values and axes, so no two rows share one; W&B
also gets ``report/table`` (``report.csv``), ``report/pivot`` and the plots.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from arm_exp import compare
from arm_exp.artifacts import atomic_write_text, is_complete, load_manifest, read_records
from arm_exp.config import container
from arm_exp.errors import ArtifactError, ConfigError
from arm_exp.stages.base import Stage
from arm_exp.stages.record import StageRecord, same_benchmark
from arm_exp.stats import mean, mean_ci, mean_std, paired_test, rate_over_tasks
from arm_exp.types import Episode

log = logging.getLogger(__name__)

COLUMNS = [
    "benchmark",
    "split",
    "policy",
    "planner",
    "scorer",
    "n_tasks",
    "success_rate",
    "ci_low",
    "ci_high",
    "score",
    "llm_calls",
    "rm_calls",
    "env_steps",
    "wall_s",
]
EXTRA = [
    "report_metric",
    "score_ci_low",
    "score_ci_high",
    "backbone",
    "reward_model",
    "loss",
    "oracle_success",
    "mean_success",
    "rm_cache_hits",
    "runs",
    "objective",
    "actions",
    "price_paid",
    "max_score",
    "final_score",
    "policy_calls",
    "proposals",
    "rm_trained_on",
]
# After COLUMNS and EXTRA: repeats (report.pool) and the paired comparison with the baseline row;
# then one column per axis of the runs reported.
COMPARED = ["baseline", "paired_tasks", "diff", "diff_ci_low", "diff_ci_high", "p_value", "test"]
STATS = ["repeats", "repeat_mean", "repeat_std", *COMPARED]
GROUP = [
    "benchmark",
    "split",
    "policy",
    "planner",
    "scorer",
    "backbone",
    "reward_model",
    "loss",
    "objective",
    "rm_trained_on",
]


# What names a row (plot legends, W&B keys), with its axes.
LABEL = ["benchmark", "split", "policy", "backbone", "planner", "objective", "scorer",
         "reward_model", "loss", "rm_trained_on"]  # fmt: skip

PIVOT_MD = "report_pivot.md"
PIVOT_CSV = "report_pivot.csv"


def find_plan_runs(roots: list[Path]) -> list[Path]:
    """Complete plan run dirs at or below ``roots`` (sorted, without duplicates), including those
    a ``pipeline`` run there used (its plan stages live in the pipeline's cache). Incomplete plan
    runs are skipped with a warning that names them."""
    found: set[Path] = set()
    skipped: list[Path] = []
    for root in roots:
        if not root.exists():
            raise ArtifactError(f"input_dir={root}: no such directory")
        for run in run_dirs(root):
            m = load_manifest(run)
            if m.get("stage") == "pipeline":
                for entry in m.get("counts", {}).get("stages", []):
                    if entry.get("stage") == "plan":
                        plan_dir = _stage_dir(Path(entry["dir"]), run)
                        if is_complete(plan_dir):
                            found.add(plan_dir)
                        else:
                            skipped.append(plan_dir)
            elif m.get("stage") == "plan":
                if m.get("complete"):
                    found.add(run.resolve())
                else:
                    skipped.append(run.resolve())
    missed = sorted(set(skipped) - found)
    if missed:
        log.warning(
            "report: %d incomplete plan run(s) left out (resume them to include them): %s",
            len(missed),
            ", ".join(map(str, missed)),
        )
    return sorted(found)


def run_dirs(root: Path) -> list[Path]:
    """The run dirs at or below ``root``: dirs with a ``manifest.json``. A run dir's own folders
    are not searched: what lies inside a run is its artifacts (W&B keeps a copy of the manifest
    in ``wandb/offline-run-*/files/``), never another run."""
    found = []
    for folder, subdirs, files in os.walk(root):
        if "manifest.json" in files:
            found.append(Path(folder))
            subdirs.clear()
        else:
            subdirs.sort()
    return found


def _launch_dir(run_dir: Path) -> Path | None:
    """The working directory the run was launched from (Hydra records it in ``.hydra``)."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.exists():
        return None
    import yaml

    try:
        cwd = (yaml.safe_load(hydra_yaml.read_text()) or {}).get("hydra", {})["runtime"]["cwd"]
    except (KeyError, TypeError, yaml.YAMLError):
        return None
    return Path(cwd) if cwd else None


def _stage_dir(path: Path, pipeline_dir: Path) -> Path:
    """A stage dir a pipeline run recorded: as is if absolute, else (a relative cache dir) from
    where the pipeline was launched, if it is there, else from here."""
    launched = _launch_dir(pipeline_dir)
    if not path.is_absolute() and launched is not None and (launched / path).exists():
        return (launched / path).resolve()
    return path.resolve()


def _run_dir_of(path: Path) -> Path | None:
    """The stage run dir holding ``path`` (a run dir, or a file up to two levels inside one)."""
    start = path if path.is_dir() else path.parent
    return next((d for d in [start, *list(start.parents)[:2]] if (d / "manifest.json").exists()),
                None)  # fmt: skip


def train_run_of(plan_dir: Path, roots: Sequence[Path] = ()) -> tuple[Path | None, str]:
    """The train run whose checkpoint plan run ``plan_dir`` scored with, or (None, why not).

    Manifests written since paths are stored resolved name it directly. Older ones hold the
    path as typed, relative to where the command ran: it is looked up from the launch dir
    Hydra recorded, from ``roots`` (e.g. the repository root), and from the run dir; a
    candidate counts only if its train run has the key the plan run recorded for its input.
    Failing that, the train run with that key is looked for where ``pipeline`` keeps it
    (``<cache>/train/<key>`` beside ``<cache>/plan/<key>``). ``(None, "")`` for a plan run
    that used no reward model.
    """
    m = load_manifest(plan_dir)
    counts = m.get("counts", {})
    entry = m.get("inputs", {}).get("rm_ckpt") or {}
    typed = counts.get("rm_ckpt") or entry.get("path") or m.get("config", {}).get("rm_ckpt")
    if counts.get("scorer") != "rm" or not typed:
        return None, ""
    key = entry.get("key")
    path = Path(str(typed))
    bases = [] if path.is_absolute() else [_launch_dir(plan_dir), *roots, plan_dir]
    candidates = [path] if path.is_absolute() else [b / path for b in bases if b is not None]
    for candidate in candidates:
        found = _run_dir_of(candidate) if candidate.exists() else None
        if found is not None and (key is None or load_manifest(found).get("key") == key):
            return found.resolve(), ""
    if key:
        cached = plan_dir.parent.parent / "train" / str(key)
        if is_complete(cached, key):
            return cached.resolve(), ""
    return None, f"its checkpoint {typed} (train run key {key}) is not found"


def declares(manifest: dict[str, Any], attr: str) -> bool:
    """Whether the plan run's planner class (``planner._target_`` of its config) declares
    ``attr`` true; False, with a warning, if the class cannot be imported here."""
    from hydra.utils import get_class

    target = (manifest.get("config", {}).get("planner") or {}).get("_target_")
    if not target:
        return False
    try:
        return bool(getattr(get_class(str(target)), attr, False))
    except Exception as e:  # noqa: BLE001 - a plot is left out, not the run
        log.warning("report: planner %s cannot be imported here (%s); no %s", target, e, attr)
        return False


def load_run(run_dir: Path, roots: Sequence[Path] = ()) -> dict[str, Any]:
    """A plan run as the report reads it: its report columns (from the manifest's counts), its
    episodes, and its settings along its lineage (:mod:`arm_exp.compare`)."""
    manifest = load_manifest(run_dir)
    counts = manifest.get("counts", {})
    episodes = read_records(run_dir / "episodes.jsonl", Episode.from_dict)
    rm = counts.get("scorer") == "rm"
    train_dir, why = train_run_of(run_dir, roots) if rm else (None, "")
    if train_dir is not None and not (counts.get("reward_model") and counts.get("loss")):
        # A plan run from before plan recorded its checkpoint's reward model and loss.
        train_counts = load_manifest(train_dir).get("counts", {})
        counts = {**counts, **{k: train_counts.get(k) for k in ("reward_model", "loss")}}
    chain, upstream_why = compare.lineage(run_dir, train_dir)
    settings = compare.run_settings(chain)
    settings.why = why or upstream_why
    return {
        "dir": str(run_dir),
        "benchmark": counts.get("benchmark", ""),
        "split": counts.get("split", ""),
        "policy": counts.get("policy", ""),
        "planner": counts.get("planner", ""),
        "scorer": counts.get("scorer", ""),
        "backbone": counts.get("backbone") or "",
        "reward_model": (counts.get("reward_model") or "") if rm else "",
        "loss": (counts.get("loss") or "") if rm else "",
        # held-out transfer only: a reward model of the row's own benchmark leaves it empty
        "rm_trained_on": _transfer(counts) if rm else "",
        "objective": counts.get("objective") or "",
        "report_metric": counts.get("report_metric") or "success_rate",
        "episodes": episodes,
        "iid_candidates": declares(manifest, "iid_candidates"),
        "settings": settings,
    }


def _transfer(counts: dict[str, Any]) -> str:
    """The benchmark a plan run's reward model was trained on, if not the run's own (a held-out
    transfer, ``plan.allow_rm_from``), else ''."""
    trained_on = str(counts.get("rm_trained_on") or "")
    benchmark = str(counts.get("benchmark") or "")
    return "" if not trained_on or same_benchmark(trained_on, benchmark) else trained_on


@dataclass
class Comparison:
    """What ``report`` and the notebooks show: the rows, the axes that tell them apart (extra
    columns after the identity ones), and notes (what was pooled, the baseline, runs whose
    lineage could not be read)."""

    rows: list[dict[str, Any]]
    axes: list[str]
    notes: list[str]


def compare_runs(
    run_dirs: Sequence[Path],
    roots: Sequence[Path] = (),
    pool: Sequence[str] = ("seed",),
    baseline: dict[str, Any] | None = None,
) -> Comparison:
    """Load the plan runs, find their axes, aggregate one row per configuration and compare
    each row with its baseline (``report.pool``, ``report.baseline``)."""
    runs = [load_run(Path(d), roots) for d in run_dirs]
    settings = [r["settings"] for r in runs]
    axes = compare.axes(settings, runs, pool)
    for r in runs:
        r["axes"] = {a: compare.axis_value(r["settings"], a) for a in axes}
        r["repeat"] = compare.repeat_of(r["settings"], pool)
    rows = aggregate(runs, axes)
    notes = [f"rows differ in: {', '.join(axes)}" if axes else "rows differ in no setting "
             "beyond the columns above"]  # fmt: skip
    repeats = max((int(r["repeats"]) for r in rows), default=0)
    if repeats > 1:
        notes.append(
            f"pooled as repeats of a row (report.pool): {', '.join(pool)} (up to {repeats} "
            "per row); each task counts once, its repeats averaged"
        )
    notes.append(compare_with_baseline(rows, axes, baseline or {}))
    notes += [
        f"{r['dir']}: settings upstream of it left out of the axes: {r['settings'].why}"
        for r in runs
        if r["settings"].why
    ]
    return Comparison(rows, axes, notes)


def _per_task(eps: list[Episode], field: str) -> dict[str, list[float]]:
    """Task id -> the task's values of the episodes' ``field`` (``success`` or ``score``), one
    per episode."""
    tasks: dict[str, list[float]] = defaultdict(list)
    for e in eps:
        tasks[e.task_id].append(float(getattr(e, field)))
    return tasks


def aggregate(runs: list[dict[str, Any]], axes: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per configuration (the identity columns and ``axes``), pooling its runs. Rates
    and scores are over tasks: each task's repeats (seeds, runs of the same configuration) are
    averaged first; costs are means per episode."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        groups[(*(r[k] for k in GROUP), *(r["axes"][a] for a in axes))].append(r)
    rows = []
    for _, members in sorted(groups.items()):
        eps = [e for r in members for e in r["episodes"]]
        wins = [mean(v) for v in _per_task(eps, "success").values()]
        n = len(wins)
        rate, lo, hi = rate_over_tasks(wins)
        by_repeat: dict[tuple, list[Episode]] = defaultdict(list)
        for r in members:
            by_repeat[tuple(r.get("repeat", ()))] += r["episodes"]
        repeat_mean, repeat_std = mean_std(
            [rate_over_tasks([mean(v) for v in _per_task(e, "success").values()])[0]
             for e in by_repeat.values()]
        )  # fmt: skip

        def cost(name: str, eps: list[Episode] = eps) -> float:
            return mean([float(e.counters.get(name, 0.0)) for e in eps])

        row = {k: members[0][k] for k in GROUP} | {a: members[0]["axes"][a] for a in axes}
        scores = [mean(v) for v in _per_task(eps, "score").values()]
        score_lo, score_hi = mean_ci(scores)
        metrics = {str(r["report_metric"]) for r in members}
        row.update(
            n_tasks=n,
            success_rate=rate,
            ci_low=lo,
            ci_high=hi,
            score=mean(scores),
            report_metric=metrics.pop() if len(metrics) == 1 else "success_rate",
            score_ci_low=score_lo,
            score_ci_high=score_hi,
            llm_calls=cost("llm_calls"),
            policy_calls=cost("policy_calls"),
            proposals=cost("proposals"),
            rm_calls=cost("rm_calls") or cost("oracle_calls"),
            env_steps=cost("env_steps"),
            wall_s=mean([e.wall_s for e in eps]),
            oracle_success=cost("oracle_success"),
            mean_success=cost("mean_success"),
            rm_cache_hits=cost("rm_cache_hits"),
            runs=len(members),
            actions=cost("actions"),
            price_paid=_mean_present(eps, "price_paid"),
            max_score=_mean_present(eps, "max_score"),
            final_score=_mean_present(eps, "final_score"),
            repeats=len(by_repeat),
            repeat_mean=repeat_mean,
            repeat_std=repeat_std,
            **dict.fromkeys(COMPARED, ""),
            _episodes=eps,
            _iid_candidates=all(r.get("iid_candidates") for r in members),
        )
        rows.append(row)
    return rows


def compare_with_baseline(
    rows: list[dict[str, Any]], axes: Sequence[str], spec: dict[str, Any]
) -> str:
    """Fill each row's comparison with its baseline row (:func:`arm_exp.compare.pick_baseline`):
    a paired test over the tasks both were evaluated on, of the rows' headline metric (success,
    or the mean score where both report it); returns the note on the baseline."""
    pairs, note = compare.pick_baseline(rows, [*GROUP, *axes], spec)
    for i, b in pairs.items():
        row, base = rows[i], rows[b]
        field = "score" if row["report_metric"] == base["report_metric"] == "score" else "success"
        result = paired_test(
            _per_task(base["_episodes"], field),
            _per_task(row["_episodes"], field),
            binary=field == "success",
        )
        if not result.tasks:
            continue
        base["_is_baseline"] = True
        row.update(
            baseline=label(base, axes),
            paired_tasks=result.tasks,
            diff=result.diff,
            diff_ci_low=result.low,
            diff_ci_high=result.high,
            p_value=result.p,
            test=result.test,
        )
    return note


def label(row: dict[str, Any], axes: Sequence[str], columns: Sequence[str] = ()) -> str:
    """A row's name: its identity values and ``axis=value`` for each axis (``columns``: only
    these of the identity columns)."""
    keys = columns or [k for k in LABEL if row[k]]
    return "/".join(
        [*(str(row[k]) for k in keys if row[k]), *(f"{a}={row[a]}" for a in axes if row[a] != "")]
    )


def _mean_present(eps: list[Episode], name: str) -> float | str:
    """The mean of a counter over the episodes that have it ('' if none has)."""
    values = [float(e.counters[name]) for e in eps if name in e.counters]
    return mean(values) if values else ""


def to_csv(rows: list[dict[str, Any]], axes: Sequence[str] = ()) -> str:
    out = io.StringIO()
    fields = [*COLUMNS, *EXTRA, *STATS, *axes]
    w = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return out.getvalue()


def to_markdown(rows: list[dict[str, Any]], axes: Sequence[str] = ()) -> str:
    """The table of ``report.md``: the identity columns, one column per axis, the headline
    numbers; "repeats" where a row pools several (mean +- std of the success rate across them)
    and the difference from the baseline where a row was compared with one."""
    repeats = any(int(r["repeats"]) > 1 for r in rows)
    compared = any(r["baseline"] != "" for r in rows)
    head = [
        "benchmark",
        "split",
        "policy",
        "planner",
        "scorer",
        *axes,
        "tasks",
        "success % [95% CI]",
        *(["repeats: mean ± std %"] if repeats else []),
        "oracle@N %",
        "score",
        "actions",
        "price paid",
        "policy calls",
        "RM calls",
        "env steps",
        "s/task",
        *(["vs baseline: Δ pts [95% CI], p"] if compared else []),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        policy = r["policy"] + (f" ({r['backbone']})" if r["backbone"] else "")
        scorer = r["scorer"] + (f" ({r['reward_model']}, {r['loss']})" if r["reward_model"] else "")
        spread = f"{r['repeats']}: {100 * r['repeat_mean']:.1f} ± {100 * r['repeat_std']:.1f}"
        cells = [
            r["benchmark"],
            r["split"],
            policy,
            r["planner"] + (f" + {r['objective']}" if r["objective"] else ""),
            scorer,
            *(str(r[a]) for a in axes),
            str(r["n_tasks"]),
            f"{100 * r['success_rate']:.1f} [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]",
            *([spread if int(r["repeats"]) > 1 else ""] if repeats else []),
            f"{100 * r['oracle_success']:.1f}" if _has_candidates(r) else "",
            f"{r['score']:.3f}",
            f"{r['actions']:.1f}",
            f"{r['price_paid']:.2f}" if r["price_paid"] != "" else "",
            f"{r['policy_calls']:.1f}",
            f"{r['rm_calls']:.1f}",
            f"{r['env_steps']:.1f}",
            f"{r['wall_s']:.2f}",
            *([_versus(r)] if compared else []),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _versus(row: dict[str, Any]) -> str:
    """The comparison cell: ``+10.0 [-5.0, 25.0], p=0.38 (McNemar, 20 tasks)``."""
    if row["baseline"] == "":
        return "baseline" if row.get("_is_baseline") else ""
    test = "McNemar" if row["test"] == "mcnemar_exact" else "paired bootstrap"
    return (
        f"{100 * row['diff']:+.1f} [{100 * row['diff_ci_low']:+.1f}, "
        f"{100 * row['diff_ci_high']:+.1f}], p={row['p_value']:.2g} "
        f"({test}, {row['paired_tasks']} tasks)"
    )


def _has_candidates(row: dict[str, Any]) -> bool:
    """Whether the row's planner chose among several candidates (an oracle@N is meaningful)."""
    return any(len(e.candidates) > 1 for e in row["_episodes"])


ROW_KEYS = ["backbone", "planner", "scorer", "reward_model", "loss", "objective", "rm_trained_on"]


def pivot(
    rows: list[dict[str, Any]], axes: Sequence[str] = ()
) -> tuple[list[str], list[list[str]]]:
    """The paper's table: one row per backbone (or policy) x planner (x scorer, reward model,
    loss, objective where they vary, x each axis), one column per benchmark/split; each cell
    the benchmark's headline metric in % with its 95% interval over tasks: the success rate
    (Wilson) or, where the benchmark reports a mean score (WebShop, ScienceWorld:
    ``benchmark.report_metric``), the mean score (normal interval); then the policy's proposals
    per task, where its policy counts them (the compute a planner spent)."""
    columns = sorted({f"{r['benchmark']}/{r['split']}" for r in rows})
    keys = [k for k in ROW_KEYS if any(r[k] for r in rows)]

    def label(r: dict[str, Any]) -> tuple[str, ...]:
        who = r["backbone"] or r["policy"]
        return (who, *(str(r[k]) for k in keys if k != "backbone"), *(str(r[a]) for a in axes))

    cells: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)
    for r in rows:
        if r["report_metric"] == "score":
            value, lo, hi = r["score"], r["score_ci_low"], r["score_ci_high"]
            text = f"{100 * value:.1f} [{100 * lo:.1f}, {100 * hi:.1f}] (score)"
        else:
            value, lo, hi = r["success_rate"], r["ci_low"], r["ci_high"]
            text = f"{100 * value:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
        if r.get("proposals"):
            text += f" @ {r['proposals']:.0f} proposals"
        cells[label(r)][f"{r['benchmark']}/{r['split']}"] = text
    head = ["backbone/policy", *(k for k in keys if k != "backbone"), *axes, *columns]
    body = [[*lab, *(cells[lab].get(c, "") for c in columns)] for lab in sorted(cells)]
    return head, body


def pivot_markdown(rows: list[dict[str, Any]], axes: Sequence[str] = ()) -> str:
    head, body = pivot(rows, axes)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def pivot_csv(rows: list[dict[str, Any]], axes: Sequence[str] = ()) -> str:
    head, body = pivot(rows, axes)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(head)
    w.writerows(body)
    return out.getvalue()


def success_at_k(
    episodes: list[Episode], k: int, draws: int = 200, seed: int = 0
) -> tuple[float, float, float]:
    """(planner's pick, oracle, mean) success among k random candidates of each episode; the
    pick ranks by the scorer's score plus the run's objective term, if it had one."""
    rng = random.Random(seed)
    pick = oracle = avg = 0.0
    n = 0
    for e in episodes:
        cands = e.candidates
        if len(cands) < k or any(c.scorer_score is None for c in cands):
            continue
        weight = float(e.meta.get("objective", {}).get("weight", 0.0))
        values = [float(c.scorer_score or 0.0) + weight * (c.objective or 0.0) for c in cands]
        for _ in range(draws):
            idx = rng.sample(range(len(cands)), k)
            sub = [cands[i] for i in idx]
            best = max(range(k), key=lambda j: (values[idx[j]], -j))
            pick += sub[best].success
            oracle += any(c.success for c in sub)
            avg += sum(c.success for c in sub) / k
            n += 1
    return (pick / n, oracle / n, avg / n) if n else (0.0, 0.0, 0.0)


def _legend(rows: list[dict[str, Any]], axes: Sequence[str], drop: str = "") -> list[str]:
    """The identity columns that vary among ``rows`` (all but ``drop``), for plot legends; the
    policy and scorer where none does."""
    varying = [k for k in LABEL if k != drop and len({r[k] for r in rows}) > 1]
    return varying or [k for k in ("policy", "scorer") if k != drop]


def plot(rows: list[dict[str, Any]], out_dir: Path, axes: Sequence[str] = ()) -> list[str]:
    """``success_vs_n.png`` and ``planners.png`` (see the module docstring): each legend entry
    names its row by what tells it from the others, axes included."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    bon = [
        r
        for r in rows
        if r["_iid_candidates"]
        and r["_episodes"]
        and min(len(e.candidates) for e in r["_episodes"]) > 1
    ]
    if bon:
        fig, ax = plt.subplots(figsize=(6, 4))
        top = 0.0
        names = _legend(bon, axes)
        for r in bon:
            n_max = min(len(e.candidates) for e in r["_episodes"])
            ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= n_max]
            curves = [success_at_k(r["_episodes"], k) for k in ks]
            name = label(r, axes, names)
            ax.plot(ks, [100 * c[0] for c in curves], marker="o", label=f"{name}: pick")
            ax.plot(ks, [100 * c[1] for c in curves], linestyle="--", label=f"{name}: oracle@k")
            top = max([top, *(100 * c[1] for c in curves)])
        # From 0, with room above the best curve: all-zero data would otherwise get matplotlib's
        # +-0.04 around 0 (a success rate is never negative).
        ax.set_ylim(0.0, min(105.0, max(10.0, 1.15 * top)))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N (samples)")
        ax.set_ylabel("success %")
        title = ", ".join(sorted({str(r["planner"]) for r in bon}))
        ax.set_title(f"{title} on {bon[0]['benchmark']}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / "success_vs_n.png", dpi=120)
        plt.close(fig)
        written.append("success_vs_n.png")
    if rows:
        planners = sorted({r["planner"] for r in rows})
        names = _legend(rows, axes, drop="planner")
        series = sorted({label(r, axes, names) for r in rows})
        fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(planners)), 4))
        width = 0.8 / max(len(series), 1)
        for j, s in enumerate(series):
            xs: list[float] = []
            ys: list[float] = []
            errs: list[list[float]] = [[], []]
            for i, p in enumerate(planners):
                match = [r for r in rows if r["planner"] == p and label(r, axes, names) == s]
                if match:
                    r = match[0]
                    xs.append(i + j * width)
                    ys.append(100 * r["success_rate"])
                    errs[0].append(100 * (r["success_rate"] - r["ci_low"]))
                    errs[1].append(100 * (r["ci_high"] - r["success_rate"]))
            ax.bar(xs, ys, width, yerr=errs, capsize=2, label=s)
        ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(planners))], planners)
        ax.set_ylabel("success % (95% CI over tasks)")
        ax.set_title("Planners")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / "planners.png", dpi=120)
        plt.close(fig)
        written.append("planners.png")
    return written


def plot_proposals(rows: list[dict[str, Any]], out_dir: Path) -> list[str]:
    """``success_vs_proposals.png`` (module docstring) for the rows whose policy counted its
    proposals; nothing when none did."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    costed = [r for r in rows if r.get("proposals") and r["_episodes"]]
    if not costed:
        return []
    names = _legend(costed, ())
    curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in costed:
        points = curves[label(r, (), names)]
        points.append((float(r["proposals"]), 100 * r["success_rate"]))
        n_max = min(len(e.candidates) for e in r["_episodes"])
        if r["_iid_candidates"] and n_max > 1:
            per = float(r["proposals"]) / n_max
            for k in (1, 2, 4, 8, 16, 32, 64, 128):
                if k < n_max:
                    points.append((k * per, 100 * success_at_k(r["_episodes"], k)[0]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    top = 0.0
    for name, points in sorted(curves.items()):
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker="o", label=name)
        top = max(top, *ys)
    ax.set_ylim(0.0, min(105.0, max(10.0, 1.15 * top)))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("policy proposals per task")
    ax.set_ylabel("success %")
    ax.set_title(f"Success vs proposals on {costed[0]['benchmark']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "success_vs_proposals.png", dpi=120)
    plt.close(fig)
    return ["success_vs_proposals.png"]


def _roots(cfg: DictConfig) -> list[Path]:
    roots: list[Path] = []
    if cfg.get("input_dir") not in (None, "", "???"):
        roots.append(Path(cfg.input_dir))
    extra = cfg.get("input_dirs") or []
    roots += [Path(p) for p in (extra if isinstance(extra, list | ListConfig) else [extra])]
    if not roots:
        raise ConfigError(
            "report needs input_dir=DIR (a sweep dir or a plan run dir) or input_dirs=[...]"
        )
    return roots


def inputs(cfg: DictConfig) -> dict[str, Path]:
    """The complete plan runs under ``input_dir`` / ``input_dirs`` (keyed by their keys)."""
    roots = _roots(cfg)
    runs_dirs = find_plan_runs(roots)
    if not runs_dirs:
        raise ArtifactError(f"no complete `arm-exp plan` runs under {[str(r) for r in roots]}")
    return {f"run{i}": d for i, d in enumerate(runs_dirs)}


def run(cfg: DictConfig) -> dict[str, float]:
    baseline = container(cfg.report.baseline) or {}
    if not isinstance(baseline, dict):
        raise ConfigError(
            f"report.baseline={baseline!r}: expected {{column: value}}, e.g. "
            "'report.baseline={scorer:none}' or 'report.baseline={train.data.train_fraction:0.5}'"
        )
    stage = StageRecord(cfg, STAGE)
    runs_dirs = list(stage.spec.inputs.values())
    if stage.done:
        return stage.previous_metrics()
    # Where a relative checkpoint path in an older plan manifest may be relative to.
    roots = [Path.cwd(), Path(str(cfg.paths.root_dir))]
    pool = [str(k) for k in cfg.report.pool]
    found = compare_runs(runs_dirs, roots, pool, baseline)
    rows, axes = found.rows, found.axes
    for note in found.notes:
        log.info("report: %s", note)
    notes = "".join(f"\n- {n}" for n in found.notes)
    atomic_write_text(stage.dir / "report.csv", to_csv(rows, axes))
    atomic_write_text(stage.dir / "report.md", f"{to_markdown(rows, axes)}{notes}\n")
    atomic_write_text(stage.dir / PIVOT_MD, pivot_markdown(rows, axes))
    atomic_write_text(stage.dir / PIVOT_CSV, pivot_csv(rows, axes))
    pngs = [*plot(rows, stage.dir, axes), *plot_proposals(rows, stage.dir)]
    stage.count(
        runs=len(runs_dirs),
        rows=len(rows),
        axes=axes,
        plots=pngs,
        run_dirs=[str(d) for d in runs_dirs],
    )
    metrics: dict[str, float] = {
        "report/rows": float(len(rows)),
        "report/runs": float(len(runs_dirs)),
    }
    for r in rows:
        metrics[f"report/{label(r, axes)}/success_rate"] = r["success_rate"]
    benchmarks = {str(r["benchmark"]) for r in rows}
    stage.tag(benchmark=benchmarks.pop() if len(benchmarks) == 1 else None)
    log_tables(stage.loggers, rows, axes, [stage.dir / p for p in pngs])
    return stage.finish(metrics)


def log_tables(
    loggers: list[Any], rows: list[dict[str, Any]], axes: Sequence[str], plots: list[Path]
) -> None:
    """The report as tables (``report/table``: the rows of ``report.csv``; ``report/pivot``: the
    pivot) and its plots (``report/plots``), for loggers that take them (W&B: ``wandb.Table``
    and images; CSV/TensorBoard have no such methods)."""
    columns = [*COLUMNS, *EXTRA, *STATS, *axes]
    head, body = pivot(rows, axes)
    for logger in loggers:
        log_table = getattr(logger, "log_table", None)
        if callable(log_table):
            log_table(
                key="report/table", columns=columns, data=[[r[c] for c in columns] for r in rows]
            )
            log_table(key="report/pivot", columns=head, data=body)
        log_image = getattr(logger, "log_image", None)
        if callable(log_image) and plots:
            log_image(
                key="report/plots", images=[str(p) for p in plots], caption=[p.stem for p in plots]
            )


def read_report(run_dir: str | Path) -> list[dict[str, str]]:
    """The rows of a ``report.csv`` (for notebooks and tests)."""
    with open(Path(run_dir) / "report.csv", newline="") as f:
        return list(csv.DictReader(f))


def show(cfg: DictConfig, metrics: dict[str, float]) -> str:
    """What ``arm-exp report`` prints: the table, then the paper-shaped pivot."""
    from arm_exp.stages.record import run_dir

    if not cfg.report.show:
        return ""
    out = run_dir(cfg)
    return f"{(out / 'report.md').read_text()}\n{(out / PIVOT_MD).read_text()}"


STAGE = Stage(
    name="report",
    run=run,
    reads=("input_dir", "input_dirs", "report"),
    key=("report",),
    key_exclude=("report.show",),
    inputs=inputs,
    unkeyed={
        "input_dir": "inputs: the plan runs found there, keyed by their keys",
        "input_dirs": "inputs: the plan runs found there, keyed by their keys",
        "report.show": "whether the tables are printed",
    },
    artifacts=(
        "report.csv",
        "report.md",
        PIVOT_MD,
        PIVOT_CSV,
        "success_vs_n.png",
        "planners.png",
        "success_vs_proposals.png",
    ),
    show=show,
)

if __name__ == "__main__":
    STAGE.main()
