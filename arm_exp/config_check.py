"""Check a stage's config before any work starts: every value typed, one line per problem.

Every ``arm-exp <stage>`` checks its command line and the config it composes first
(:func:`arm_exp.stages.lifecycle.run_command`), in seconds, before models, engines or servers
start; ``arm-exp pipeline`` checks each of its stages' configs before it runs the first. One
mechanism types every value, wherever it was set (the command line, an experiment file, a
benchmark or any group file):

- the plain nodes (the top level, ``benchmark``, the stages' own ``train.*``, ``plan.*``, ...)
  by the schema of :mod:`arm_exp.config`, which Hydra applies while it composes;
- every ``_target_`` node (``planner``, ``llm``, ``trainer``, ``benchmark.env``, a logger, ...)
  by the signature of what it instantiates: each key must be a parameter of the target and its
  value must be what the parameter's annotation accepts (pydantic's conversion rules).

A problem is one line: the key, the value, the expected type and the file (and line) it came
from (:class:`Origins`). Beside the types it adds what Hydra's message lacks:

- an unknown option of a config group (``planner=mcst``): the valid options and the closest;
- a key that does not exist (``limt=2``): the closest existing keys;
- a key the stage does not read (``arm-exp train planner=mcts``): which stages read it;
- a secret passed as a value (``llm.api_key=sk-...``): keys come from environment variables;
- ``-m``: every job of the sweep is checked (up to :data:`MAX_SWEEP_JOBS`; beyond that, each
  swept value once).

A required input left unset is reported by the stage itself, with the producer to run.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import itertools
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from arm_exp.artifacts import is_secret_key
from arm_exp.config import CONF_DIR, LLM_ROLES, ArmExpConfig, compose, override_root
from arm_exp.errors import ConfigError
from arm_exp.stages.base import COMMON, Stage

MAX_SWEEP_JOBS = 64
_CHECK_DIR = "/tmp/arm-exp-config-check"
# Keys a config can have (the others are unknown, and Hydra says so with a "did you mean").
TOP_LEVEL_KEYS = frozenset(f.name for f in dataclasses.fields(ArmExpConfig)) | COMMON


def group_options(group: str, conf_dir: str | Path = CONF_DIR) -> list[str] | None:
    """The options of a config group (``planner`` -> ``["best_of_n", ...]``); None if no group
    or one of Hydra's (``hydra/sweeper``: its options are in Hydra's ConfigStore too, ``basic``
    beside our ``arm_exp_waves``; Hydra checks them)."""
    root = Path(conf_dir) / group.split("@", 1)[0]
    if group.startswith("hydra/") or not root.is_dir():
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


def check_overrides(stage: Stage, overrides: Sequence[str]) -> None:
    """Raise :class:`ConfigError` if ``overrides`` would not give ``stage`` a valid config.

    An override of a key the stage does not read (its declaration's ``reads``, beyond the keys
    every stage shares) is refused, so ``arm-exp train planner=mcts`` cannot pass for a change.
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

    secrets = [o.key_or_group for o in parsed if is_secret_key(o.key_or_group) and o.value()]
    if secrets:
        # Hydra would write it to .hydra/overrides.yaml and config.yaml before the stage runs.
        raise ConfigError(
            f"`{secrets[0]}`: secrets are never passed as config values (they would be written "
            "to the run dir); put the key in an environment variable and name it with "
            "llm.api_key_env=VAR"
        )
    for o in parsed:
        root = override_root(o.key_or_group)
        if not stage.reads_key(root) and root in TOP_LEVEL_KEYS:
            raise ConfigError(
                f"`{o.key_or_group}`: arm-exp {stage.command} does not read `{root}` (it reads "
                f"{', '.join(sorted(stage.reads or ()))} and the common keys); "
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
        check_job(stage, job)


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


def check_job(stage: Stage, args: Sequence[str], set_hydra_config: bool = True) -> None:
    """Raise :class:`ConfigError` (one line per problem) unless ``stage`` composed with
    ``args`` (one job: no sweep) is a config whose every value has its type. The pipeline checks
    each of its stages' configs this way, inside its own app (``set_hydra_config=False``),
    before it runs the first."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException, ValidationError

    args = list(args)
    parsed = OverridesParser.create().parse_overrides(args)
    try:
        cfg = compose(stage.name, args, _CHECK_DIR, set_hydra_config=set_hydra_config)
    except (HydraException, OmegaConfBaseException) as e:
        cause: BaseException | None = e
        while cause is not None and not isinstance(cause, ValidationError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, ValidationError) and getattr(cause, "full_key", None):
            raise ConfigError(_schema_problem(cause, Origins(stage.name, args))) from None
        msg = str(e)
        if isinstance(e.__cause__, OmegaConfBaseException):
            msg += f"\n{e.__cause__}"
        group_args = [a for a, o in zip(args, parsed, strict=True) if group_options(o.key_or_group)]
        hints = _key_hints(stage.name, group_args, parsed)
        raise ConfigError("\n".join([msg, *hints])) from None
    problems = check_config(cfg, stage.reads, Origins(stage.name, args))
    if problems:
        raise ConfigError("\n".join(problems))


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


# -- types -------------------------------------------------------------------------------------

# Keys of a `_target_` node that Hydra reads itself.
_HYDRA_KEYS = frozenset({"_target_", "_partial_", "_recursive_", "_convert_", "_args_"})


def check_config(cfg: DictConfig, reads: Sequence[str] | None, origins: Origins) -> list[str]:
    """The problems of a composed config's ``_target_`` nodes under the top-level keys
    ``reads`` (None: all): a key its target has no parameter for, a value its parameter's
    annotation does not accept. One line each (see the module docstring)."""
    problems: list[str] = []
    roots = [str(k) for k in cfg if str(k) != "hydra" and (reads is None or str(k) in reads)]
    for root in roots:
        _check_node(cfg._get_node(root), root, origins, problems)
    return problems


def _check_node(node: Any, path: str, origins: Origins, out: list[str]) -> None:
    if isinstance(node, ListConfig):
        for i in range(len(node)):
            _check_node(node._get_node(i), f"{path}[{i}]", origins, out)
        return
    if not isinstance(node, DictConfig) or node._is_missing() or node._is_none():
        return
    if node._is_interpolation():
        return  # a copy of another node (`${benchmark.env}`), checked where it is written
    if "_target_" in node:
        _check_target(node, path, origins, out)
    for key in map(str, node):
        if key not in _HYDRA_KEYS:
            _check_node(node._get_node(key), f"{path}.{key}", origins, out)


def _check_target(node: DictConfig, path: str, origins: Origins, out: list[str]) -> None:
    target = _target(str(node._target_))
    if target is None:
        return  # not importable here (an optional extra): the stage that builds it says so
    name, params, hints = target
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in map(str, node):
        if key in _HYDRA_KEYS:
            continue
        where = f"{path}.{key}"
        if key not in params:
            if not takes_any:
                out.append(
                    f"`{where}` ({origins.of(where)}): {name} takes no argument `{key}` "
                    f"(it takes {', '.join(p for p in params if p != 'self')})"
                )
            continue
        if key not in hints:
            continue
        try:
            child = node[key]  # resolved: `${benchmark.env}` is the node it names
            if _holds_target(child):
                continue  # built first, then passed: checked on its own
            value = (
                OmegaConf.to_container(child, resolve=True) if OmegaConf.is_config(child) else child
            )
        except Exception:  # noqa: BLE001 - an interpolation Hydra cannot resolve: reported later
            continue
        if value is None:
            continue  # unset: a stage that needs it says which producer to run
        if not _accepts(hints[key], value):
            raw = node._get_node(key)
            via = f" = {raw._value()}" if raw is not None and raw._is_interpolation() else ""
            out.append(
                f"`{where}{via}` = {value!r} ({origins.of(where)}): expected "
                f"{_type_name(hints[key])} ({name}'s `{key}`)"
            )


def _holds_target(node: Any) -> bool:
    """Whether a value is (or holds) a node Hydra instantiates: checked on its own."""
    if isinstance(node, DictConfig) and not node._is_none() and not node._is_missing():
        if node._is_interpolation():
            return True
        return "_target_" in node or any(_holds_target(node._get_node(k)) for k in node)
    if isinstance(node, ListConfig) and not node._is_none() and not node._is_missing():
        return any(_holds_target(node._get_node(i)) for i in range(len(node)))
    return False


@functools.cache
def _target(path: str) -> tuple[str, dict[str, inspect.Parameter], dict[str, Any]] | None:
    """A target's name, parameters and the annotations that resolve (others are not checked)."""
    from hydra.utils import get_object

    try:
        obj = get_object(path)
    except Exception:  # noqa: BLE001 - ImportError of an optional extra, or a bad path
        return None
    func = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = dict(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return None
    raw = getattr(func, "__annotations__", {}) or {}
    namespace = getattr(inspect.unwrap(func), "__globals__", {})
    hints: dict[str, Any] = {}

    def probe() -> None: ...

    for key in params:
        ann = raw.get(key)
        if ann is None:
            continue
        if isinstance(ann, str):
            probe.__annotations__ = {key: ann}
            try:
                ann = typing.get_type_hints(probe, globalns=namespace)[key]
            except Exception:  # noqa: BLE001 - a name only imported for type checking
                continue
        hints[key] = ann
    return path.rsplit(".", 1)[-1] if "." in path else path, params, hints


@functools.cache
def _adapter(annotation: Any) -> Any:
    from pydantic import ConfigDict, TypeAdapter

    try:
        return TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # noqa: BLE001 - a type pydantic cannot express: not checked
        return None


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` converts to ``annotation`` (True where that cannot be checked)."""
    from pydantic import ValidationError

    try:
        adapter = _adapter(annotation)
    except TypeError:  # unhashable annotation
        return True
    if adapter is None:
        return True
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    except Exception:  # noqa: BLE001 - a validator of a third-party type failed: not ours to judge
        return True
    return True


def _type_name(tp: Any) -> str:
    """``int``, ``float | None``, ``list[str]``: an annotation as one would write it."""
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _schema_problem(e: Any, origins: Origins) -> str:
    """One line for a value the schema (:mod:`arm_exp.config`) refused while composing."""
    key = str(e.full_key)
    expected = _schema_type(key)
    value = getattr(e, "value", None)
    shown = f" = {value!r}" if value is not None else ""
    want = f"expected {_type_name(expected)}" if expected is not None else e.msg.splitlines()[0]
    return f"`{key}`{shown} ({origins.of(key)}): {want}"


def _schema_type(key: str) -> Any:
    """The annotation of dotted ``key`` in the schema (None if it is not a schema field)."""
    tp: Any = ArmExpConfig
    for part in key.split("."):
        if not dataclasses.is_dataclass(tp):
            return None
        hints = typing.get_type_hints(tp)
        if part not in hints:
            return None
        tp = hints[part]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
            tp = args[0] if dataclasses.is_dataclass(args[0]) else tp
    return tp


class Origins:
    """Where each key of a composed config was set: the command line, else the last config file
    that sets it (``conf/experiment/armap.yaml:12``), in Hydra's own merge order."""

    def __init__(self, config_name: str, overrides: Sequence[str]) -> None:
        self.config_name = config_name
        self.overrides = [o for o in overrides if not o.startswith("-")]
        self._files: list[tuple[Path, str]] | None = None

    def files(self) -> list[tuple[Path, str]]:
        """The composed files, in merge order, each with the package its keys land under."""
        if self._files is None:
            self._files = self._defaults()
        return self._files

    def _defaults(self) -> list[tuple[Path, str]]:
        from hydra import initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra
        from hydra.types import RunMode

        def compute() -> list[tuple[Path, str]]:
            loader = GlobalHydra.instance().config_loader()
            found = loader.compute_defaults_list(self.config_name, self.overrides, RunMode.RUN)
            out = []
            for d in found.defaults:
                path = Path(CONF_DIR) / f"{d.config_path}.yaml"
                if d.config_path and path.is_file() and not d.config_path.startswith("hydra/"):
                    out.append((path, d.package or ""))
            return out

        try:
            if GlobalHydra.instance().is_initialized():
                return compute()
            with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
                return compute()
        except Exception:  # noqa: BLE001 - the origin is a courtesy; the problem stands without
            return []

    def of(self, key: str) -> str:
        """``the command line (planner.n=four)`` or ``conf/planner/mcts.yaml:4``."""
        for o in reversed(self.overrides):
            k, _, _ = o.lstrip("+~").partition("=")
            if group_options(k) is None and (key == k or key.startswith(k + ".")):
                return f"set on the command line: {o}"
        for path, package in reversed(self.files()):
            prefix = f"{package}." if package else ""
            if package and key != package and not key.startswith(prefix):
                continue
            line = _yaml_line(path, key[len(prefix) :] if package else key)
            if line is not None:
                return f"set in {_shown(path)}:{line}"
        return "the schema's default"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path(CONF_DIR).parent))
    except ValueError:
        return str(path)


@functools.cache
def _yaml_nodes(path: Path) -> Any:
    import yaml

    try:
        return yaml.compose(path.read_text())
    except Exception:  # noqa: BLE001 - Hydra has parsed it; a courtesy lookup only
        return None


def _yaml_line(path: Path, key: str) -> int | None:
    """The 1-based line of dotted ``key`` in YAML file ``path`` (None if it does not set it)."""
    import yaml

    node = _yaml_nodes(path)
    for part in key.split("."):
        part = part.split("[", 1)[0]
        if not isinstance(node, yaml.MappingNode):
            return None
        for k, v in node.value:
            if k.value == part:
                node = v
                line = k.start_mark.line + 1
                break
        else:
            return None
    return line if node is not None else None
