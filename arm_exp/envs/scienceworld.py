"""ScienceWorld over the real engine (the ``scienceworld`` package's Java simulator).

Task x: a variation of one of ScienceWorld's 30 task types, id ``"<task name>/<variation>"``
with the engine's task names (``"boil/21"``, ``"find-animal/218"``). Splits follow ETO, as
ARMAP does: ``train`` (1,483 variations), ``seen`` (ETO's dev list, 194) and ``unseen`` (ETO's
test list, 211), from ``arm_exp/data/scienceworld/*_indices.json`` in file order (kept as ETO
ships them: 54 seen variations are also in its train list). They cover 24 of the 30 types;
``reset`` accepts any variation of any of the 30. The world is loaded with
ETO's ``"easy"`` simplifications (teleport actions, open doors, self-watering flower pots, and
no electrical actions outside the electrical tasks).

Output y: text actions (``"teleport to kitchen"``, ``"focus on lead"``), at most the task's
step limit (ETO's ``max_steps.json``; ``default_max_steps`` for the six types it lacks). Every
``step`` call counts towards the limit, rejected actions included, as in ETO.

Reward r (``score``): as ARMAP and ETO score ScienceWorld (ARMAP's ``envs/sciworld_env.py:
103-104``), the **running maximum** of the engine's score over the episode, in [0, 1] (score/100;
the engine's -100 failure, focusing on a wrong object, never lowers it); ``score="final"``
uses the score at the end instead (-100 counted as 0). Every step's ``info`` carries both,
``max_score`` and ``final_score``, whichever is the env's score, plus the raw engine score as
``engine_score`` (-100..100); success is a score of 100.

Episode end: the task is completed or failed (-100), the step limit is reached, or, as in
ARMAP's and ETO's evaluation loop (ARMAP ``Eval/sciworld/main.py:71-81``), the engine answers
"No known action matches that input" (``end_on_no_known_action``) or the last
``end_on_repeats`` observations were identical after more than that many steps
(``info["stop_reason"]`` says which). ``end_on_no_known_action=false end_on_repeats=null``
lets an agent recover from such steps instead.

Speed:

- ``step`` calls the engine's own ``step`` and reads the score through py4j; the valid-action
  list (several times the cost of a step) is only computed when :meth:`valid_actions` is called,
  unlike the ``scienceworld`` Python wrapper, which computes it (and more) on every step.
- One JVM per env, started on the first ``reset`` and reused across episodes: a new episode
  loads its variation into the running engine (~0.1 s) instead of starting a JVM (~1.5 s).
- Each JVM's heap is capped (``jvm_heap_mb``); :meth:`max_parallel` says how many envs fit in
  the memory available now, and the episode runner caps its env pool to it.

Snapshots: the engine cannot clone its state, so a snapshot is the episode's replay prefix
(every input the engine acted on; inputs its parser matched to no action change nothing and are
left out) plus the step count and score. ``restore`` is free when the engine is already in that
state (e.g. after an invalid action), steps forward when the snapshot extends the current
episode, and otherwise reloads the variation and replays the prefix. The engine lists a room's
objects, and numbers the options of an ambiguity question, in an order that changes from load to
load; a replayed answer to such a question is therefore re-numbered by the option's text. The
counters ``restores``, ``restore_reloads``, ``replayed_steps`` and ``restore_mismatches`` (the
replayed state's score or last observation, up to word order, differed from the snapshot's)
report the cost.

Reproducibility: that listing order depends on the worlds the JVM loaded before (within an
episode too: a reload for a restore changes it), deterministically. So a run repeats itself, but
a task's observations (and so an LLM's choices) depend on the tasks its env ran earlier; scores
of fixed action sequences do not. :meth:`forget` starts a fresh JVM: ``plan`` calls it between
tasks, so a task's episode does not depend on the task order, ``limit`` or ``plan.concurrency``.

Failures: anything a model writes comes back as an observation (``info["invalid"]`` when the
engine's parser rejected it). If the JVM dies or stops answering, the env drops it, ends the
episode as failed (score 0, ``info["error"]`` says why) and starts a fresh JVM on the next
``reset``; the run goes on.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from arm_exp.envs.base import StepResult, UnknownSplitError, UnknownTaskError

log = logging.getLogger(__name__)

SPLIT_FILES = {
    "train": "train_indices.json",
    "seen": "dev_indices.json",
    "unseen": "test_indices.json",
}
MAX_ACTION_CHARS = 300
# The engine's answers to input it could not act on (info["invalid"]). Only the first leaves the
# engine untouched (the parser found no template), so only it stays out of the replay prefix.
# An ambiguity question ("Ambiguous request: ...") is no rejection: the parser then waits for the
# number of the intended action, which is engine state.
_NO_MATCH = "No known action matches that input."
_REJECTED = (_NO_MATCH, "Unknown action.", "Error Encountered")
_AMBIGUOUS = "Ambiguous request"
_ETO_PREFIX = re.compile(r"^task-\d+[ab]?-")
# Per-JVM memory beyond the heap (metaspace, code cache, threads), measured here: ~300 MB.
_JVM_OVERHEAD_MB = 300


def engine_task_name(name: str) -> str:
    """The engine's task name for an ETO/ScienceWorld-paper file name:
    ``"task-10-measure-melting-point-(known-substance)"`` -> ``"measure-melting-point-known-
    substance"``. Engine names pass through unchanged."""
    name = _ETO_PREFIX.sub("", name.strip()).replace("(", "").replace(")", "")
    return name.replace("mendellian", "mendelian")  # a typo the engine has since fixed


def parse_task_id(task_id: str) -> tuple[str, int]:
    """``"boil/21"`` -> ``("boil", 21)``; :class:`UnknownTaskError` for anything else."""
    name, sep, var = str(task_id).rpartition("/")
    if not sep or not name or not var.isdigit():
        raise UnknownTaskError(
            f"scienceworld task id {task_id!r}: expected '<task name>/<variation>', e.g. 'boil/21'"
        )
    return name, int(var)


def _read_json(name: str) -> Any:
    path = resources.files("arm_exp.data").joinpath(f"scienceworld/{name}")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def load_split(split: str) -> tuple[str, ...]:
    """The task ids of an ETO split in file order."""
    rows = _read_json(SPLIT_FILES[split])
    return tuple(f"{engine_task_name(name)}/{int(var)}" for name, var in rows)


@cache
def load_step_limits() -> dict[str, int]:
    """ETO's per-task step limits, keyed by engine task name."""
    return {engine_task_name(k): int(v) for k, v in _read_json("max_steps.json").items()}


def mem_available_mb() -> float | None:
    """MemAvailable from /proc/meminfo in MiB (None where there is no /proc)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# One replayed input: the action as sent and, for the answer to an ambiguity question, the text
# of the option it chose.
Replay = tuple[str, str | None]


@dataclass(frozen=True)
class Snapshot:
    """An episode state, restored by replaying ``replay`` after loading the variation."""

    task_id: str
    replay: tuple[Replay, ...]
    n_steps: int
    score: int
    credited: int
    done: bool
    observation: str
    max_score: int = 0
    recent: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorldState:
    """The world as the engine's object tree has it: where every object is and the state of its
    container and device properties. Object ids are the engine's uuids; ``names`` are the
    referents its parser accepts for each (``"wood cup"``, ``"cup"``, ``"kitchen"``,
    ``"inventory"``), the names its observations use."""

    parent: Mapping[str, str]  # object id -> the id of the object or room that contains it
    names: Mapping[str, frozenset[str]]
    open: frozenset[str]  # closable containers that are open
    closed: frozenset[str]
    activated: frozenset[str]  # devices that are on
    deactivated: frozenset[str]
    agent: str | None

    def named(self, name: str) -> list[str]:
        """The ids of the objects the parser knows as ``name``."""
        return [i for i, names in self.names.items() if name in names]


def _world(tree: Mapping[str, Any], referents: Mapping[str, Any]) -> WorldState:
    parent: dict[str, str] = {}
    names: dict[str, frozenset[str]] = {}
    sets: dict[str, set[str]] = {k: set() for k in ("open", "closed", "on", "off")}
    agent = None
    todo: list[tuple[Mapping[str, Any], str | None]] = [(tree, None)]
    while todo:
        node, up = todo.pop()
        uid = str(node["uuid"])
        if up is not None:
            parent[uid] = up
        lut = referents.get(uid) or {}
        names[uid] = frozenset([str(node["name"]), *map(str, lut.get("referents", []))])
        agent = uid if node["name"] == "agent" else agent
        box, device = node.get("propContainer") or {}, node.get("propDevice") or {}
        if box.get("isClosable"):
            sets["open" if box.get("isOpen") else "closed"].add(uid)
        if device.get("isActivable"):
            sets["on" if device.get("isActivated") else "off"].add(uid)
        todo += [(child, uid) for child in (node.get("contents") or {}).values()]
    return WorldState(
        parent,
        names,
        frozenset(sets["open"]),
        frozenset(sets["closed"]),
        frozenset(sets["on"]),
        frozenset(sets["off"]),
        agent,
    )


class _Engine:
    """One JVM running the simulator, reached through py4j (the package's ``PythonInterface``).

    Started directly with py4j rather than through ``scienceworld.ScienceWorldEnv`` so that the
    JVM's heap and GC can be set and so that stepping skips the wrapper's per-step extras.
    """

    def __init__(self, java_opts: list[str], call_timeout_s: float) -> None:
        self._tree_dir: tempfile.TemporaryDirectory[str] | None = None
        try:
            from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway
            from scienceworld.constants import BASEPATH, JAR_PATH
        except ImportError as e:
            raise ImportError(
                "benchmark=scienceworld needs the `scienceworld` package: "
                "pip install -e '.[scienceworld]' (make install does)"
            ) from e
        java = shutil.which("java")
        if java is None:
            raise RuntimeError(
                "benchmark=scienceworld needs a Java runtime (17+) on PATH; `make install` "
                "installs one through apt (default-jre-headless)"
            )
        started = time.perf_counter()
        port, self.proc = launch_gateway(
            classpath=JAR_PATH,
            javaopts=list(java_opts),
            die_on_exit=True,  # the JVM exits when this Python process does
            cwd=BASEPATH,
            java_path=java,
            return_proc=True,
        )
        self.gateway = JavaGateway(
            # No memory management: py4j would otherwise free Java objects from Python garbage
            # collection, i.e. talk to the JVM (and log tracebacks when it is dead) at any
            # allocation. The few Java lists we receive are freed explicitly (`strings`).
            gateway_parameters=GatewayParameters(
                port=port,
                auto_field=True,
                read_timeout=call_timeout_s,
                enable_memory_management=False,
            ),
            java_process=self.proc,
        )
        try:
            self.server = self.gateway.jvm.scienceworld.runtime.pythonapi.PythonInterface()
            self.task_names = self.strings(self.server.getTaskNames())
        except Exception:
            self.close()
            raise
        self.start_s = time.perf_counter() - started

    def world(self) -> WorldState:
        """The current state from the engine's object tree (written to a file) and its
        object-referent table."""
        if self._tree_dir is None:
            self._tree_dir = tempfile.TemporaryDirectory(prefix="arm-exp-sw-tree-")
        err = self.server.getObjectTree(self._tree_dir.name)
        if err:
            raise RuntimeError(f"scienceworld: object tree: {err}")
        tree = json.loads((Path(self._tree_dir.name) / "objectTree.json").read_text("utf-8"))
        return _world(tree, json.loads(str(self.server.getAllObjectIdsTypesReferentsLUTJSON())))

    def strings(self, java_list: Any) -> list[str]:
        """A Java list of strings as a Python list; the Java side may then free it."""
        try:
            return [str(x) for x in java_list]
        finally:
            self.gateway.detach(java_list)

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def close(self) -> None:
        if self._tree_dir is not None:
            self._tree_dir.cleanup()
        try:
            self.gateway.shutdown()
        except Exception as e:  # a dead JVM cannot answer; the process is killed below anyway
            log.debug("scienceworld: gateway shutdown failed: %s", e)
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except Exception as e:
            log.warning("scienceworld: JVM %d did not exit: %s", self.pid, e)


class ScienceWorldEnv:
    """ScienceWorld (see the module docstring for x, y, r, speed and snapshots).

    Args:
        simplifications: the engine's simplification string (``"easy"`` as in ETO and ARMAP).
        max_steps: one step limit for every task; None uses ETO's per-task limits.
        default_max_steps: the limit for task types ETO's file lacks.
        jvm_heap_mb: the JVM's maximum heap (``-Xmx``); 1 GiB holds every task type.
        java_opts: extra JVM options.
        call_timeout_s: a call into the engine that takes longer counts as a crash.
        score: ``max`` (the running maximum, ARMAP/ETO) or ``final`` (the score at the end).
        end_on_no_known_action: end the episode when the engine matches no action (ARMAP).
        end_on_repeats: end the episode on this many identical observations in a row after
            more than this many steps (ARMAP: 4); None never does.
    """

    benchmark = "scienceworld"

    def __init__(
        self,
        simplifications: str = "easy",
        max_steps: int | None = None,
        default_max_steps: int = 100,
        jvm_heap_mb: int = 1024,
        java_opts: list[str] | None = None,
        call_timeout_s: float = 120.0,
        score: str = "max",
        end_on_no_known_action: bool = True,
        end_on_repeats: int | None = 4,
    ) -> None:
        if score not in ("max", "final"):
            raise ValueError(f"benchmark.env.score={score!r}: 'max' (ARMAP) or 'final'")
        if end_on_repeats is not None and end_on_repeats < 2:
            raise ValueError(f"benchmark.env.end_on_repeats={end_on_repeats}: >= 2 or null")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps={max_steps}: must be >= 1 (or null for ETO's limits)")
        if jvm_heap_mb < 256:
            raise ValueError(f"jvm_heap_mb={jvm_heap_mb}: the engine needs at least 256 MB")
        self.simplifications = simplifications
        self.max_steps = max_steps
        self.default_max_steps = default_max_steps
        self.jvm_heap_mb = jvm_heap_mb
        self.java_opts = [f"-Xmx{jvm_heap_mb}m", "-XX:+UseSerialGC", *(java_opts or [])]
        self.call_timeout_s = call_timeout_s
        self.score = score
        self.end_on_no_known_action = end_on_no_known_action
        self.end_on_repeats = end_on_repeats
        self._engine: _Engine | None = None
        self._task_id: str | None = None
        self._intent = ""
        self._limit = 0
        self._history: list[Replay] = []  # what reached the engine (the replay prefix)
        self._n_steps = 0
        self._score = 0  # engine score, -100..100
        self._max_score = 0  # its running maximum over the episode
        self._recent: tuple[str, ...] = ()  # the last observations (for end_on_repeats)
        self._credited = 0  # the part of the env's score already paid out as step rewards
        self._done = False
        self._observation = ""
        self._crashed: str | None = None
        self._valid: list[str] | None = None
        self._counters: dict[str, float] = {
            "env_steps": 0,
            "resets": 0,
            "invalid_actions": 0,
            "valid_actions_calls": 0,
            "jvm_starts": 0,
            "jvm_start_s": 0.0,
            "jvm_crashes": 0,
            "restores": 0,
            "restore_reloads": 0,
            "replayed_steps": 0,
            "restore_mismatches": 0,
        }

    # -- tasks -------------------------------------------------------------------------------
    def task_ids(self, split: str) -> list[str]:
        if split not in SPLIT_FILES:
            raise UnknownSplitError(self.benchmark, split, list(SPLIT_FILES))
        return list(load_split(split))

    def task_type(self, task_id: str) -> str:
        return parse_task_id(task_id)[0]

    def task_meta(self, task_id: str) -> dict[str, Any]:
        name, variation = parse_task_id(task_id)
        return {"variation": variation, "simplifications": self.simplifications}

    def step_limit(self, task_id: str) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return load_step_limits().get(parse_task_id(task_id)[0], self.default_max_steps)

    def max_parallel(self) -> int:
        """How many envs fit in the memory available now (each JVM: heap + ~300 MB)."""
        avail = mem_available_mb()
        if avail is None:
            return 1 << 30
        return max(1, int(avail * 0.9 // (self.jvm_heap_mb + _JVM_OVERHEAD_MB)))

    # -- engine ------------------------------------------------------------------------------
    def _require_engine(self) -> _Engine:
        if self._engine is None:
            engine = _Engine(self.java_opts, self.call_timeout_s)
            self._counters["jvm_starts"] += 1
            self._counters["jvm_start_s"] += engine.start_s
            log.info("scienceworld: JVM %d started in %.2f s", engine.pid, engine.start_s)
            self._engine = engine
        return self._engine

    def _drop_engine(self, reason: str) -> None:
        """Forget a JVM that failed; the next reset starts a new one."""
        self._counters["jvm_crashes"] += 1
        log.warning("scienceworld: engine failure (%s); restarting the JVM", reason)
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()

    def engine_task_names(self) -> list[str]:
        """The engine's 30 task names (starts the JVM if it is not running)."""
        return list(self._require_engine().task_names)

    @property
    def jvm_pid(self) -> int | None:
        """The running JVM's process id (None before the first reset)."""
        return self._engine.pid if self._engine is not None else None

    def _load(self, name: str, variation: int, gold: bool = False) -> list[str]:
        """Load a variation into the engine (starting it if needed) and take the first look.

        Returns the gold action sequence when ``gold`` is set. A JVM that fails here is
        replaced once; a second failure raises.
        """
        for attempt in (0, 1):
            try:
                engine = self._require_engine()
                self._check_task(engine, name, variation)
                err = engine.server.load(name, variation, self.simplifications, gold)
                if err:
                    raise RuntimeError(f"scienceworld: loading {name}/{variation}: {err}")
                golds = engine.strings(engine.server.getGoldActionSequence()) if gold else []
                self._observation = str(engine.server.step("look around"))
                self._intent = str(engine.server.getTaskDescription())
                self._score = int(round(100 * float(engine.server.getScore())))
                return golds
            except Exception as e:
                if not _is_engine_failure(e) or attempt == 1:
                    raise
                self._drop_engine(f"{type(e).__name__}: {e}")
        raise AssertionError("unreachable")

    @staticmethod
    def _check_task(engine: _Engine, name: str, variation: int) -> None:
        if name not in engine.task_names:
            raise UnknownTaskError(
                f"scienceworld task {name!r} is not one of the engine's tasks: "
                f"{sorted(engine.task_names)}"
            )
        n = int(engine.server.getTaskMaxVariations(name))
        if not 0 <= variation < n:
            raise UnknownTaskError(
                f"scienceworld task {name!r} has variations 0..{n - 1}, not {variation}"
            )

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str) -> str:
        self._counters["resets"] += 1
        return self._reset(task_id, gold=False)[0]

    def reset_with_gold(self, task_id: str) -> tuple[str, list[str]]:
        """Like :meth:`reset`, and also return the engine's gold action sequence (slower: the
        engine plays the task once to find it)."""
        self._counters["resets"] += 1
        return self._reset(task_id, gold=True)

    def _reset(self, task_id: str, gold: bool) -> tuple[str, list[str]]:
        name, variation = parse_task_id(task_id)
        golds = self._load(name, variation, gold=gold)
        self._task_id = f"{name}/{variation}"
        self._limit = self.step_limit(task_id)
        self._history = []
        self._n_steps = 0
        self._credited = 0
        self._max_score = 0
        self._recent = ()
        self._done = False
        self._crashed = None
        self._valid = None
        return self._observation, golds

    def intent(self) -> str:
        return self._intent

    def _require_episode(self) -> None:
        if self._task_id is None:
            raise RuntimeError("ScienceWorldEnv.step/valid_actions called before reset()")

    def valid_actions(self) -> list[str]:
        """The engine's valid action-object combinations now (costly: ~35 ms; cached until
        the next step). Empty once the episode is over."""
        self._require_episode()
        if self._done or self._crashed is not None or self._engine is None:
            return []
        if self._valid is None:
            self._counters["valid_actions_calls"] += 1
            try:
                engine = self._engine
                self._valid = engine.strings(engine.server.getValidActionObjectCombinations())
            except Exception as e:
                if not _is_engine_failure(e):
                    raise
                self._crash(f"{type(e).__name__}: {e}")
                return []
        return list(self._valid)

    def step(self, action: str) -> StepResult:
        self._require_episode()
        self._counters["env_steps"] += 1
        if self._crashed is not None:
            return self._crash_result()
        if self._done:
            return "The episode is over.", 0.0, True, self._info(invalid=True)
        self._n_steps += 1
        if not isinstance(action, str) or not action.strip():
            return self._rejected("Empty action. Write one action, e.g. 'look around'.")
        action = " ".join(action.split())
        if len(action) > MAX_ACTION_CHARS:
            return self._rejected(f"Action longer than {MAX_ACTION_CHARS} characters.")
        assert self._engine is not None
        try:
            obs, score, completed = self._engine_step(self._engine, action)
        except Exception as e:
            if not _is_engine_failure(e):
                raise
            self._crash(f"{type(e).__name__}: {e}")
            return self._crash_result()
        invalid = obs.startswith(_REJECTED)
        if invalid:
            self._counters["invalid_actions"] += 1
        if not obs.startswith(_NO_MATCH):
            self._history.append((action, _chosen_option(self._observation, action)))
            self._observation = obs
            self._valid = None
        self._score = score
        self._max_score = max(self._max_score, score)
        self._done = completed or score < 0
        stop = self._stop_rule(obs) if not self._done else None
        self._done = self._done or stop is not None
        truncated = not self._done and self._n_steps >= self._limit
        if truncated:
            self._done = True
        info = self._info(invalid=invalid, truncated=truncated)
        if stop is not None:
            info["stop_reason"] = stop
        if obs.startswith(_AMBIGUOUS):
            info["ambiguous"] = True
        return obs, self._pay_out(), self._done, info

    def _stop_rule(self, obs: str) -> str | None:
        """ARMAP's (and ETO's) extra episode ends: no known action, or a repeated observation."""
        if self.end_on_no_known_action and obs.startswith(_NO_MATCH):
            return "no_known_action"
        k = self.end_on_repeats
        if k is None:
            return None
        self._recent = (*self._recent, obs)[-k:]
        if self._n_steps > k and len(self._recent) == k and len(set(self._recent)) == 1:
            return "repeated_observation"
        return None

    def _metric(self) -> int:
        """The env's score in engine units: the running max (ARMAP) or the current score."""
        return self._max_score if self.score == "max" else self._score

    def _pay_out(self) -> float:
        """The step's reward: the env's score gained since the last one. Some tasks give credit
        for the start state; it goes to the first step, so the rewards always sum to the score."""
        reward = _unit(self._metric()) - _unit(self._credited)
        self._credited = self._metric()
        return reward

    @staticmethod
    def _engine_step(engine: _Engine, action: str) -> tuple[str, int, bool]:
        obs = str(engine.server.step(action))
        score = int(round(100 * float(engine.server.getScore())))
        return obs, score, bool(engine.server.getCompleted())

    def _rejected(self, obs: str) -> StepResult:
        """An action refused before it reached the engine (empty, too long)."""
        self._counters["invalid_actions"] += 1
        stop = self._stop_rule(obs)
        truncated = stop is None and self._n_steps >= self._limit
        if truncated or stop is not None:
            self._done = True
        info = self._info(invalid=True, truncated=truncated)
        if stop is not None:
            info["stop_reason"] = stop
        return obs, self._pay_out(), self._done, info

    def _crash(self, reason: str) -> None:
        self._crashed = reason
        self._done = True
        self._drop_engine(reason)

    def _crash_result(self) -> StepResult:
        reason = self._crashed or "unknown"
        self._score = 0
        self._max_score = 0  # an aborted episode counts as failed
        obs = f"The ScienceWorld engine failed ({reason}); this episode ends."
        info = self._info()
        info["error"] = f"scienceworld engine failure: {reason}"
        return obs, self._pay_out(), True, info

    def _info(self, invalid: bool = False, truncated: bool = False) -> dict[str, Any]:
        info: dict[str, Any] = {
            "score": _unit(self._metric()),
            "success": self._metric() == 100,
            "invalid": invalid,
            "max_score": _unit(self._max_score),
            "final_score": _unit(self._score),
            "engine_score": self._score,
            "steps": self._n_steps,
            "step_limit": self._limit,
        }
        if truncated:
            info["truncated"] = True
        return info

    # -- search support ----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        self._require_episode()
        assert self._task_id is not None
        return Snapshot(
            self._task_id,
            tuple(self._history),
            self._n_steps,
            self._score,
            self._credited,
            self._done,
            self._observation,
            self._max_score,
            self._recent,
        )

    def restore(self, snapshot: Snapshot) -> None:
        """Return to ``snapshot`` by replay (see the module docstring); free if already there."""
        self._counters["restores"] += 1
        same_episode = snapshot.task_id == self._task_id and self._crashed is None
        prefix = snapshot.replay[: len(self._history)] == tuple(self._history)
        if same_episode and prefix and len(snapshot.replay) >= len(self._history):
            todo = snapshot.replay[len(self._history) :]
        else:
            self._counters["restore_reloads"] += 1
            self._reset(snapshot.task_id, gold=False)
            todo = snapshot.replay
        engine = self._require_engine()
        score = self._score
        obs = self._observation
        try:
            for action, choice in todo:
                if choice is not None:
                    # The engine numbers an ambiguity's options in no fixed order: answer
                    # with the number the same option has now.
                    action = _option_number(obs, choice) or action
                obs, score, _ = self._engine_step(engine, action)
                self._counters["replayed_steps"] += 1
        except Exception as e:
            if not _is_engine_failure(e):
                raise
            self._crash(f"{type(e).__name__}: {e}")
            return
        if score != snapshot.score or (todo and not _same_text(obs, snapshot.observation)):
            self._counters["restore_mismatches"] += 1
            log.warning(
                "scienceworld: replaying %d actions of %s gave score %d (snapshot: %d) and "
                "observation %r (snapshot: %r)",
                len(snapshot.replay),
                snapshot.task_id,
                score,
                snapshot.score,
                obs[:200],
                snapshot.observation[:200],
            )
        self._history = list(snapshot.replay)
        self._n_steps = snapshot.n_steps
        self._score = snapshot.score
        self._credited = snapshot.credited
        self._max_score = snapshot.max_score
        self._recent = snapshot.recent
        self._done = snapshot.done
        self._observation = snapshot.observation
        self._valid = None

    def facts(self) -> WorldState:
        """The world's state now (:class:`WorldState`; ~70 ms), what hindsight goals are
        checked on."""
        self._require_episode()
        if self._crashed is not None or self._engine is None:
            raise RuntimeError(f"scienceworld: no engine state ({self._crashed or 'no JVM'})")
        return self._engine.world()

    def counters(self) -> dict[str, float]:
        return dict(self._counters)

    def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()
        self._task_id = None

    def forget(self) -> None:
        """Drop the JVM: the next ``reset`` starts a fresh one (~1.5 s).

        The engine lists a room's objects in an order that depends on every world the JVM
        loaded before, so a task's observations depend on the tasks this env ran earlier.
        ``plan`` calls this between tasks, so that an episode depends only on its task and seed,
        not on the task order, ``limit`` or ``plan.concurrency``.
        """
        self.close()


_OPTION = re.compile(r"^(\d+):\t(.*)$")


def _options(observation: str) -> dict[str, str]:
    """An ambiguity question's options, number -> text ({} for any other observation)."""
    if not observation.startswith(_AMBIGUOUS):
        return {}
    return {m[1]: m[2].strip() for m in map(_OPTION.match, observation.splitlines()) if m}


def _chosen_option(previous_observation: str, action: str) -> str | None:
    return _options(previous_observation).get(action)


def _option_number(observation: str, text: str) -> str | None:
    return next((n for n, t in _options(observation).items() if t == text), None)


def _same_text(a: str, b: str) -> bool:
    """Equal up to word order: the engine lists a room's objects in no fixed order."""
    return sorted(a.split()) == sorted(b.split())


def _unit(score: int) -> float:
    """Engine score (-100..100) -> benchmark score in [0, 1]; the -100 failure counts as 0."""
    return max(score, 0) / 100


def _is_engine_failure(e: BaseException) -> bool:
    """A py4j error (dead or hung JVM, or a Java exception) rather than a bug of ours."""
    try:
        from py4j.protocol import Py4JError
    except ImportError:
        return False
    return isinstance(e, Py4JError | ConnectionError | EOFError)
