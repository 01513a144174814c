"""Check a stage's command line before any work starts: Hydra's error plus a hint.

``arm-exp <stage> ...`` calls :func:`check_overrides` before it imports the stage (so before
models, engines or servers start). It catches, in a second or less:

- an unknown option of a config group (``planner=mcst``): Hydra's "Could not find" error, the
  valid options of the group and the closest one;
- a key that does not exist (``limt=2``): Hydra's error and the closest existing keys;
- a value of the wrong type (``limit=abc``, ``trainer.max_epochs=1.5``): the key, the value and
  the type its default (or the schema below) calls for;
- an override Hydra cannot parse, or a config that does not compose;
- a secret passed as a value (``llm.api_key=sk-...``): keys come from environment variables.

A required value left at ``???`` is reported by the stage itself, with the producer to run, as
soon as it reads its inputs (before any expensive work).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from arm_exp.stages.common import CONF_DIR, ConfigError

# Keys whose default is null, so their type cannot be read off the default.
SCHEMA: dict[str, type] = {"limit": int, "seed": int, "task_ids": list}


def _is_secret_key(key: str) -> bool:
    from arm_exp.artifacts import _SECRET_KEY

    return bool(_SECRET_KEY.search(key.rsplit(".", 1)[-1]))


def group_options(group: str, conf_dir: str | Path = CONF_DIR) -> list[str] | None:
    """The options of a config group (``planner`` -> ``["best_of_n", ...]``); None if no group."""
    root = Path(conf_dir) / group
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


def _type_error(key: str, given: Any, default: Any) -> str | None:
    """Why ``given`` cannot stand where ``default`` is (None if it can)."""
    expected: type | None = SCHEMA.get(key) if default is None else type(default)
    if expected is None or given is None:  # null is the conventional "off" for any key
        return None
    if isinstance(given, str) and given.startswith("${"):
        return None  # an interpolation: resolved later
    if expected is bool:
        ok = isinstance(given, bool)
    elif expected is int:
        ok = isinstance(given, int) and not isinstance(given, bool)
    elif expected is float:
        ok = isinstance(given, int | float) and not isinstance(given, bool)
    elif expected is list:
        ok = isinstance(given, list | tuple)
    else:
        return None  # strings and nested nodes: the objects they build check themselves
    if ok:
        return None
    name = {bool: "true or false", int: "an integer", float: "a number", list: "a list"}[expected]
    where = "" if default is None else f" (its default is {default!r})"
    return f"`{key}={given!r}`: expected {name}{where}"


def check_overrides(config_name: str, overrides: Sequence[str]) -> None:
    """Raise :class:`ConfigError` if ``overrides`` would not give a valid ``config_name``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from arm_exp.stages.common import compose

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
    hints: list[str] = []
    group_args: list[str] = []
    sweeps = False
    for o, arg in zip(parsed, args, strict=True):
        sweeps = sweeps or o.is_sweep_override()
        options = group_options(o.key_or_group)
        if options is None or o.is_delete():
            continue
        group_args.append(arg)
        try:
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.value()]
        except HydraException:
            continue  # glob(...) sweeps: Hydra expands them itself
        for v in values:
            if v is not None and str(v) not in options:
                hints.append(_hint_options(o.key_or_group, str(v), options))
    if sweeps:  # a multirun: each job composes its own config
        if hints:
            raise ConfigError("\n".join(hints))
        return

    try:
        cfg = compose(config_name, args, "/tmp/arm-exp-config-check")
    except (HydraException, OmegaConfBaseException) as e:
        msg = str(e)
        if isinstance(e.__cause__, OmegaConfBaseException):
            msg += f"\n{e.__cause__}"
        if not hints:
            hints = _key_hints(config_name, group_args, parsed, args)
        raise ConfigError("\n".join([msg, *hints])) from None
    if hints:
        raise ConfigError("\n".join(hints))

    base = compose(config_name, group_args, "/tmp/arm-exp-config-check")
    errors = []
    for o in parsed:
        key = o.key_or_group
        if o.is_delete() or o.is_add() or key.startswith("hydra.") or group_options(key):
            continue
        default = OmegaConf.select(base, key, default=None, throw_on_missing=False)
        if isinstance(default, DictConfig) or OmegaConf.is_missing(base, key):
            continue
        given = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        given = OmegaConf.to_container(given) if OmegaConf.is_config(given) else given
        err = _type_error(key, given, default)
        if err:
            errors.append(err)
    if errors:
        raise ConfigError("\n".join(errors))


def _key_hints(config_name: str, group_args: list[str], parsed: list, args: list[str]) -> list[str]:
    """For keys that do not exist: the closest existing ones."""
    from arm_exp.stages.common import compose

    try:
        base = compose(config_name, group_args, "/tmp/arm-exp-config-check")
    except Exception:  # noqa: BLE001 - hints are best effort; Hydra's error is already there
        return []
    keys = _keys(base)
    hints = []
    for o in parsed:
        key = o.key_or_group
        if o.is_add() or key.startswith("hydra") or key in keys or group_options(key):
            continue
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
        if close:
            hints.append(f"hint: no key `{key}`; did you mean {' or '.join(close)}?")
        else:
            hints.append(f"hint: no key `{key}`; add a new one with +{key}=...")
    return hints
