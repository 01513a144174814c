"""Check a stage's command line before any work starts: Hydra's own error, plus a hint.

Every ``arm-exp <stage>`` checks its overrides first (:func:`arm_exp.cli.stage_main`), in a
second or less, before models, engines or servers start. Hydra composes the config and its
schema (:mod:`arm_exp.config`) rejects unknown keys and wrong types; this module adds what
Hydra's message lacks:

- an unknown option of a config group (``planner=mcst``): the valid options and the closest;
- a key that does not exist (``limt=2``): the closest existing keys;
- a key the stage does not read (``arm-exp train planner=mcts``): which stages read it;
- a value of a config group's option that its constructor's annotation refuses
  (``planner.n=abc``: ``BestOfNPlanner(n: int)``), checked by OmegaConf against the
  ``_target_``'s signature;
- a secret passed as a value (``llm.api_key=sk-...``): keys come from environment variables;
- ``-m``: every job of the sweep is checked (up to :data:`MAX_SWEEP_JOBS`; beyond that, each
  swept value once).

A required input left unset is reported by the stage itself, with the producer to run.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import itertools
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from arm_exp.config import (
    COMMON_KEYS,
    CONF_DIR,
    LLM_ROLES,
    ArmExpConfig,
    ConfigError,
    compose,
    override_root,
)

MAX_SWEEP_JOBS = 64
_CHECK_DIR = "/tmp/arm-exp-config-check"
# Keys a config can have (the others are unknown, and Hydra says so with a "did you mean").
TOP_LEVEL_KEYS = frozenset(f.name for f in dataclasses.fields(ArmExpConfig)) | COMMON_KEYS


def _is_secret_key(key: str) -> bool:
    from arm_exp.artifacts import _SECRET_KEY

    return bool(_SECRET_KEY.search(key.rsplit(".", 1)[-1]))


def group_options(group: str, conf_dir: str | Path = CONF_DIR) -> list[str] | None:
    """The options of a config group (``planner`` -> ``["best_of_n", ...]``); None if no group."""
    root = Path(conf_dir) / group.split("@", 1)[0]
    if not root.is_dir():
        return None
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def _hint_options(group: str, value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(value, options, n=1)
    maybe = f" (did you mean {group}={close[0]}?)" if close else ""
    return (
        f"hint: {value!r} is not an option of `{group}`; valid options: {', '.join(options)}{maybe}"
    )


def _keys(node: Any, prefix: str = "") -> list[str]:
    if not isinstance(node, DictConfig):
        return []
    out = []
    for k in map(str, node):
        path = f"{prefix}{k}"
        out.append(path)
        if not OmegaConf.is_missing(node, k) and not OmegaConf.is_interpolation(node, k):
            out.extend(_keys(node[k], path + "."))
    return out


def check_overrides(
    config_name: str, overrides: Sequence[str], uses: Iterable[str] | None = None
) -> None:
    """Raise :class:`ConfigError` if ``overrides`` would not give a valid ``config_name``.

    ``uses``: the top-level keys the stage reads (its module's ``USES``); an override of any
    other key (beyond the keys every stage shares) is refused, so ``arm-exp train planner=mcts``
    cannot pass for a change. None: every key is the stage's (``pipeline``).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    args = [a for a in overrides if a not in ("-m", "--multirun")]
    if any(a.startswith("-") for a in args):
        return  # --help, --cfg, --info, -c ...: Hydra's own modes
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except HydraException as e:
        raise ConfigError(
            f"{e}\nhint: overrides are key=value (quote values with spaces, brackets or commas)"
        ) from None

    secrets = [o.key_or_group for o in parsed if _is_secret_key(o.key_or_group) and o.value()]
    if secrets:
        # Hydra would write it to .hydra/overrides.yaml and config.yaml before the stage runs.
        raise ConfigError(
            f"`{secrets[0]}`: secrets are never passed as config values (they would be written "
            "to the run dir); put the key in an environment variable and name it with "
            "llm.api_key_env=VAR"
        )
    if uses is not None:
        allowed = set(uses) | COMMON_KEYS
        for o in parsed:
            root = override_root(o.key_or_group)
            if root not in allowed and root in TOP_LEVEL_KEYS:
                raise ConfigError(
                    f"`{o.key_or_group}`: arm-exp {config_name.replace('_', '-')} does not read "
                    f"`{root}` (it reads {', '.join(sorted(set(uses)))} and the common keys); "
                    "`arm-exp pipeline` takes every stage's keys"
                )
    hints: list[str] = []
    values: list[list[str]] = []
    for o, arg in zip(parsed, args, strict=True):
        if not o.is_sweep_override():
            values.append([arg])
            continue
        try:
            swept = list(o.sweep_string_iterator())
        except HydraException:  # glob(...): Hydra expands it against the options itself
            values.append([arg])
            continue
        values.append([f"{o.get_key_element()}={v}" for v in swept])
    for o, job_values in zip(parsed, values, strict=True):
        options = group_options(o.key_or_group)
        if options is None or o.is_delete():
            continue
        for v in job_values:
            value = v.partition("=")[2]
            if value not in ("null", "") and value not in options and "(" not in value:
                hints.append(_hint_options(o.key_or_group.split("@")[0], value, options))
    if hints:
        raise ConfigError("\n".join(dict.fromkeys(hints)))
    for job in _jobs(values):
        _check_job(config_name, job)


def _jobs(values: list[list[str]]) -> list[list[str]]:
    """The jobs of a sweep (its cartesian product); past :data:`MAX_SWEEP_JOBS`, one job per
    swept value with every other override at its first value."""
    total = 1
    for v in values:
        total *= len(v)
    if total <= MAX_SWEEP_JOBS:
        return [list(job) for job in itertools.product(*values)]
    first = [v[0] for v in values]
    jobs = [first]
    for i, vs in enumerate(values):
        jobs += [[*first[:i], v, *first[i + 1 :]] for v in vs[1:]]
    return jobs


def _check_job(config_name: str, args: list[str]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    parsed = OverridesParser.create().parse_overrides(args)
    try:
        cfg = compose(config_name, args, _CHECK_DIR)
    except (HydraException, OmegaConfBaseException) as e:
        msg = str(e)
        if isinstance(e.__cause__, OmegaConfBaseException):
            msg += f"\n{e.__cause__}"
        group_args = [a for a, o in zip(args, parsed, strict=True) if group_options(o.key_or_group)]
        hints = _key_hints(config_name, group_args, parsed)
        raise ConfigError("\n".join([msg, *hints])) from None
    errors = [err for o in parsed if (err := _target_type_error(cfg, o)) is not None]
    if errors:
        raise ConfigError("\n".join(errors))


def _key_hints(config_name: str, group_args: list[str], parsed: list) -> list[str]:
    """For keys that do not exist: the closest existing ones; for an LLM role that follows
    ``llm``: how to give it a backbone of its own."""
    try:
        base = compose(config_name, group_args, _CHECK_DIR)
    except Exception:  # noqa: BLE001 - hints are best effort; Hydra's error is already there
        return []
    keys = _keys(base)
    hints = []
    for o in parsed:
        key = o.key_or_group
        root = override_root(key)
        if o.is_add() or key.startswith("hydra") or key in keys or group_options(key):
            continue
        if root in LLM_ROLES and base.get(root) is None:
            hints.append(
                f"hint: `{root}` follows `llm` (every LLM role does unless given its own): "
                f"pick one first, e.g. llm@{root}=openai_server {key}=..."
            )
            continue
        holders = _options_with_key(root, key.partition(".")[2]) if "." in key else []
        if holders:
            hints.append(
                f"hint: the chosen `{root}` has no `{key.partition('.')[2]}`; the options that "
                f"have it: {', '.join(holders)} (e.g. {root}={holders[0]} {key}=...)"
            )
            continue
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
        if close:
            hints.append(f"hint: no key `{key}`; did you mean {' or '.join(close)}?")
        else:
            hints.append(f"hint: no key `{key}`; add a new one with +{key}=...")
    return hints


def _options_with_key(group: str, key: str) -> list[str]:
    """The options of config group ``group`` whose YAML defines ``key`` (dotted)."""
    out = []
    for option in group_options(group) or []:
        node: Any = OmegaConf.to_container(
            OmegaConf.load(Path(CONF_DIR) / group / f"{option}.yaml")
        )
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            out.append(option)
    return out


def _target_type_error(cfg: DictConfig, override: Any) -> str | None:
    """Why an override's value cannot be its ``_target_``'s argument (None if it can).

    ``planner.n=abc``: ``planner._target_`` is ``BestOfNPlanner``, whose ``n`` is annotated
    ``int``; OmegaConf validates the value against that type, as it would for a dataclass field.
    """
    from hydra.utils import get_object
    from omegaconf.errors import OmegaConfBaseException

    key = override.key_or_group
    if override.is_delete() or "." not in key or key.startswith("hydra.") or "@" in key:
        return None
    parent_key, _, param = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key, default=None, throw_on_missing=False)
    if not isinstance(parent, DictConfig) or "_target_" not in parent:
        return None
    try:
        target = get_object(str(parent._target_))
        signature = inspect.signature(target)
        hints = typing.get_type_hints(target if inspect.isroutine(target) else target.__init__)
        value = OmegaConf.select(cfg, key, throw_on_missing=False)
    except Exception:  # noqa: BLE001 - an unresolvable target or value: the stage will report it
        return None
    if param not in signature.parameters or param not in hints or value is None:
        return None
    value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    tp = _omegaconf_type(hints[param])
    schema = dataclasses.make_dataclass("Arg", [(param, tp, dataclasses.field(default=None))])
    try:
        OmegaConf.merge(OmegaConf.structured(schema), {param: value})
    except OmegaConfBaseException:
        target_name = str(parent._target_).rsplit(".", 1)[-1]
        return (
            f"`{key}={value!r}`: expected {_type_name(hints[param])} "
            f"({target_name}'s `{param}: {_type_name(hints[param])}`)"
        )
    return None


def _type_name(tp: Any) -> str:
    """``int``, ``float | None``, ``list[str]``: an annotation as one would write it."""
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _omegaconf_type(tp: Any) -> Any:
    """The closest type OmegaConf can validate (``Any`` where it cannot express one)."""
    if tp in (int, float, bool, str):
        return tp | None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _omegaconf_type(rest[0])
        return Any
    if origin in (list, tuple, Sequence, typing.Sequence) or tp in (list, tuple):
        inner = args[0] if args and args[0] in (int, float, bool, str) else Any
        return list[inner] | None  # type: ignore[valid-type]
    return Any
