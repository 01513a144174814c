"""What tells plan runs apart: each run's settings along its lineage, the axes of a set of runs,
and the baseline each row is compared with. Shared by ``arm-exp report`` and the notebooks.

A plan run's **settings** are the resolved config values its stage used (the manifest's
``config``) and those of the runs upstream of it, reached through the manifests' inputs: the
train run of its reward-model checkpoint, that run's synthesize run, and its explore run. Each
stage run dir's ``.hydra`` adds the group choices (``runtime.choices``: ``synthesis=rule``) and
tells a value typed in a config file from one that follows from another key (``planner.seed:
${seed}``, ``scorer.path: ${rm_ckpt}``): those follow their source and are never settings. Keys
that name places, not settings (``paths.*``, ``rm_ckpt``, ``input_dir``, ``run_name``, the
launcher and logger: Hydra's ``override_dirname.exclude_keys``, plus ``hydra.*`` and
``wandb_group``), and values that are such a place or lie under one, are left out.

The **axes** of a set of runs are the settings that differ among them: a group choice that
differs (``synthesis``, ``experiment``) is one column, and the keys of that group's own config
(the planner's ``planner.*`` when ``planner=`` differs) follow from it; a key is an axis only if
two runs with the same choices of the groups that own it differ in it. The groups that the
report names anyway (benchmark, policy, planner, scorer, the LLM backbone, reward model, loss,
objective: :data:`IDENTITY`) are never extra columns. Keys in ``pool`` (by default ``seed``) are
repeats, not axes: runs that differ only there share a row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arm_exp.artifacts import load_manifest
from arm_exp.config import CONF_DIR

# Config groups -> the report column that already names their choice.
IDENTITY = {
    "benchmark": "benchmark",
    "policy": "policy",
    "planner": "planner",
    "scorer": "scorer",
    "llm": "backbone",
    "reward_model": "reward_model",
    "loss": "loss",
    "objective": "objective",
}
# `@package _global_` groups: their options may set any key.
GLOBAL_GROUPS = ("experiment", "debug")
# Never axes, besides Hydra's exclude_keys: where things go, and how a sweep is driven.
PLACES = ("paths", "hydra", "wandb_group", "stage", "optimized_metric", "hparams_search")


@dataclass
class Settings:
    """One run's settings along its lineage: ``choices`` (group -> option) and ``values``
    (dotted key -> value as text); ``why`` says which upstream run could not be read."""

    choices: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    why: str = ""


def text(value: Any) -> str:
    """A config value as the text the report shows and ``report.baseline`` matches."""
    return value if isinstance(value, str) else json.dumps(value)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys -> leaf values (lists stay one value)."""
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree} if prefix else {}


def _under(key: str, names: Iterable[str]) -> bool:
    return any(key == n or key.startswith(n + ".") for n in names)


def _hydra(run_dir: Path) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """(group choices, exclude_keys, the unresolved config) that Hydra recorded for the run; for
    a run without ``.hydra`` (composed in-process, e.g. by tests) no choices, no unresolved
    config and the exclude_keys of ``conf/hydra/default.yaml``."""
    import yaml

    folder = run_dir / ".hydra"
    if not (folder / "hydra.yaml").exists():
        # This repository's own list of the keys that name places.
        hydra = yaml.safe_load((Path(CONF_DIR) / "hydra" / "default.yaml").read_text()) or {}
        return {}, _exclude_keys(hydra), {}
    hydra = (yaml.safe_load((folder / "hydra.yaml").read_text()) or {}).get("hydra", {})
    choices = hydra.get("runtime", {}).get("choices", {}) or {}
    raw = folder / "config.yaml"
    unresolved = flatten(yaml.safe_load(raw.read_text()) or {}) if raw.exists() else {}
    return choices, _exclude_keys(hydra), unresolved


def _exclude_keys(hydra: dict[str, Any]) -> list[str]:
    """``job.config.override_dirname.exclude_keys`` of a Hydra config node."""
    node = hydra.get("job", {}).get("config", {}).get("override_dirname", {})
    return list(node.get("exclude_keys", []) or [])


def stage_settings(run_dir: Path) -> Settings:
    """The settings of one stage run (its own manifest and ``.hydra``)."""
    config = load_manifest(run_dir).get("config", {})
    choices, exclude, unresolved = _hydra(run_dir)
    places = [*PLACES, *exclude]
    flat = flatten(config)
    place_values = [
        v.rstrip("/")
        for k, v in flat.items()
        if _under(k, places) and isinstance(v, str) and "/" in v
    ]
    # A node that follows from another key (``synthesis.kit: ${benchmark.synthesis_kit}``)
    # follows it with every key under it.
    follows = [k for k, raw in unresolved.items() if isinstance(raw, str) and "${" in raw]
    values: dict[str, str] = {}
    for key, value in flat.items():
        if _under(key, places) or _under(key, follows):
            continue
        if isinstance(value, str) and any(
            value == p or value.startswith(p + "/") for p in place_values
        ):
            continue
        values[key] = text(value)
    own: dict[str, str] = {}
    for group, option in choices.items():
        name = group.split("@", 1)[-1]
        used = name in GLOBAL_GROUPS or package(name).split(".")[0] in config
        if used and not _under(name, places):
            own[name] = text(option)
    if not choices:  # no .hydra: a group's class stands in for its option
        for key, node in config.items():
            if isinstance(node, dict) and "_target_" in node:
                own[key] = str(node["_target_"]).rsplit(".", 1)[-1]
    return Settings(own, values)


def package(group: str) -> str:
    """Where a config group's options put their keys: the ``# @package`` line of its option
    files (``objective`` -> ``planner.objective``), else the group's name (also for
    ``_global_`` options such as ``scorer=none``: the group's own keys are still its name's)."""
    folder = Path(CONF_DIR) / group
    for option in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        first = option.read_text().split("\n", 1)[0]
        if first.startswith("# @package ") and "_global_" not in first:
            return first.removeprefix("# @package ").strip()
    return group


def _producer(path: Path) -> Path | None:
    """The run dir holding ``path`` (a run dir, or a file up to two levels inside one)."""
    start = path if path.is_dir() else path.parent
    return next((d for d in [start, *list(start.parents)[:2]] if (d / "manifest.json").exists()),
                None)  # fmt: skip


def lineage(plan_dir: Path, train_dir: Path | None) -> tuple[list[tuple[str, Path]], str]:
    """``[(stage, run dir)]`` from the plan run up through its inputs (the train run given,
    then each run's recorded inputs), and why the chain stops early ("" if it does not)."""
    chain = [("plan", plan_dir)]
    todo = [train_dir] if train_dir is not None else []
    why = ""
    while todo:
        run = todo.pop(0)
        manifest = load_manifest(run)
        chain.append((str(manifest.get("stage", "")), run))
        for name, entry in sorted(manifest.get("inputs", {}).items()):
            path = Path(str(entry.get("path", "")))
            found = _producer(path) if path.is_absolute() else None
            if found is None:
                why = why or f"the input {name}={path} of {run} is not found"
            elif found not in [d for _, d in chain]:
                todo.append(found)
    return chain, why


def run_settings(chain: Sequence[tuple[str, Path]]) -> Settings:
    """The settings of a plan run and its upstream runs, merged: a key two stages share with the
    same value is one setting; an upstream stage's other value is ``<stage>:<key>``."""
    merged = Settings()
    for stage, run in chain:
        own = stage_settings(run)
        for mine, theirs in ((merged.choices, own.choices), (merged.values, own.values)):
            for key, value in theirs.items():
                if mine.setdefault(key, value) != value:
                    mine[f"{stage}:{key}"] = value
    return merged


def pooled(key: str, pool: Sequence[str]) -> bool:
    """Whether ``key`` is a repeat: a pool entry, under one, or (for a one-word entry such as
    ``seed``) a key that ends in it (``synthesis.seed``) or a stage's own copy of it."""
    bare = key.split(":", 1)[-1]
    return any(_under(bare, [p]) or ("." not in p and bare.rsplit(".", 1)[-1] == p) for p in pool)


def axes(
    runs: Sequence[Settings], identity: Sequence[dict[str, str]], pool: Sequence[str]
) -> list[str]:
    """The settings that tell ``runs`` apart (see the module docstring), in a stable order:
    group choices first, then keys. ``identity[i]`` holds run i's report columns
    (:data:`IDENTITY`'s values); it owns the keys of those groups with the choices."""
    groups = sorted({g for s in runs for g in s.choices if not pooled(g, pool)})
    found = [
        g
        for g in groups
        if g not in IDENTITY and len({s.choices[g] for s in runs if g in s.choices}) > 1
    ]
    packages = {g: package(g) for g in {*groups, *IDENTITY}}

    def owner(i: int, key: str) -> tuple:
        bare = key.split(":", 1)[-1]
        owners = sorted(g for g in packages if g in GLOBAL_GROUPS or _under(bare, [packages[g]]))
        return tuple(
            (runs[i].choices.get(g), identity[i].get(IDENTITY.get(g, ""), "")) for g in owners
        )

    keys = sorted({k for s in runs for k in s.values if not pooled(k, pool)})
    for key in keys:
        buckets: dict[tuple, set[str]] = defaultdict(set)
        for i, s in enumerate(runs):
            if key in s.values:
                buckets[owner(i, key)].add(s.values[key])
        if any(len(v) > 1 for v in buckets.values()):
            found.append(key)
    return found


def repeat_of(settings: Settings, pool: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The run's values of the pooled keys: runs of one row with the same values are one
    repeat."""
    items = {**settings.choices, **settings.values}
    return tuple(sorted((k, v) for k, v in items.items() if pooled(k, pool)))


def axis_value(settings: Settings, axis: str) -> str:
    return settings.choices.get(axis, settings.values.get(axis, ""))


def pick_baseline(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], spec: dict[str, Any]
) -> tuple[dict[int, int], str]:
    """Which row each row is compared with: ``{row index: baseline row index}`` and a note.

    ``spec`` (``report.baseline``: column -> value, e.g. ``{scorer: none}``; by default
    ``{scorer: none}``) selects the baseline rows. A row is compared with the baseline row of
    its benchmark and split that agrees with it on the most columns; a tie is named in the
    note and that row gets no comparison. The note says why there is no comparison at all."""
    spec = {str(k): text(v) for k, v in (spec or {"scorer": "none"}).items()}
    unknown = [k for k in spec if k not in columns]
    wanted = ", ".join(f"{k}={v}" for k, v in spec.items())
    if unknown:
        return {}, f"no comparison: report.baseline names {unknown}, not a column ({columns})"
    base = [i for i, r in enumerate(rows) if all(text(r[k]) == v for k, v in spec.items())]
    if not base:
        return {}, f"no comparison: no row has {wanted} (set report.baseline={{column: value}})"
    pairs: dict[int, int] = {}
    ties: list[str] = []
    for i, r in enumerate(rows):
        if i in base:
            continue
        same = [b for b in base if (rows[b]["benchmark"], rows[b]["split"]) == (r["benchmark"],
                                                                                r["split"])]  # fmt: skip
        if not same:
            continue
        score = {b: sum(text(rows[b][c]) == text(r[c]) for c in columns) for b in same}
        best = max(score.values())
        top = [b for b in same if score[b] == best]
        if len(top) == 1:
            pairs[i] = top[0]
        else:
            ties.append(str(i + 1))
    note = f"baseline: {wanted}"
    if ties:
        note += f"; rows {', '.join(ties)} match several baseline rows equally (narrow it)"
    return pairs, note
