"""ALFWorld (text) as an agent environment, over the real ``alfworld`` engine.

Task x: an ALFWorld game, i.e. a household room described in text plus a goal such as
"put some spraybottle on toilet" (task id = the game's trial dir relative to the data dir, e.g.
``json_2.1.1/valid_seen/pick_and_place_simple-.../trial_T2019...``). Output y: a sequence of the
engine's text commands (``go to cabinet 1``, ``take mug 1 from countertop 2``, ``move mug 1 to
coffeemachine 1``, ``heat egg 1 with microwave 1``, ``use desklamp 1`` ...). Reward r: 1 iff the
engine reports the game won (the goal's PDDL formula holds) within ``max_steps`` steps, else 0.

Settings follow ETO/ARMAP: 40 steps; splits from ALFWorld's data layout (``seen`` =
``json_2.1.1/valid_seen``, ALFWorld's ``eval_in_distribution``, 140 games; ``unseen`` =
``json_2.1.1/valid_unseen``, ``eval_out_of_distribution``, 134 games; ``train`` =
``json_2.1.1/train``); the six task types are reported separately (:meth:`AlfWorldEnv.task_type`);
the engine's admissible commands are the valid actions; success = won. Like ``AlfredTWEnv``,
games are listed from ``traj_data.json`` files, skipping movable-receptacle and sliced trials,
other task types, and games whose ``game.tw-pddl`` is missing or marked unsolvable.

The engine is textworld's ``PddlEnv`` (fast-downward underneath) with ALFWorld's name demangler,
the stack ``alfworld-generate`` uses; each env loads its own copy of the fast-downward library
(about 2 MiB, kept until the process ends: see ``_Engine.close``). Observations are the
engine's text unchanged, except that the first one drops the "-= Welcome to TextWorld, ALFRED!
=-" banner (as ETO does). An action that is not
an admissible command is answered "Nothing happens." (the engine's own reply), marked invalid,
leaves the state unchanged and still counts towards the 40 steps, as in ETO. Before matching,
actions are stripped of surrounding whitespace and a trailing period and lower-cased; with
``legacy_put_alias`` (default on) "put X in/on Y", the command of the ALFWorld grammar ETO and
ARMAP ran, is accepted for today's "move X to Y" and counted in ``legacy_aliases``.

Snapshots: the engine cannot clone its state (fast-downward keeps it in a C library; textworld's
``PddlEnv.copy`` is not implemented). A snapshot is therefore the list of commands applied since
reset (plus the step count and last observation). :meth:`AlfWorldEnv.restore` replays from the
cached prefix: when the engine's current command history is a prefix of the snapshot's it
applies only the missing commands; otherwise it resets the engine (the game stays loaded) and
replays the snapshot's commands. ``restores``, ``restore_resets`` and ``replayed_steps`` count
that extra work; a replay that reaches a different state raises instead of going on silently.

``alfworld`` is an optional extra (``pip install -e '.[alfworld]'``): nothing is imported from it
until the first game is loaded, so configs compose and instantiate without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from arm_exp.envs.base import StepResult, UnknownSplitError, UnknownTaskError
from arm_exp.errors import DataError

TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
DEFAULT_SPLITS = {
    "train": "json_2.1.1/train",
    "seen": "json_2.1.1/valid_seen",
    "unseen": "json_2.1.1/valid_unseen",
}
NOTHING_HAPPENS = "Nothing happens."
MAX_ACTION_CHARS = 300
GAME_FILE = "game.tw-pddl"
TRAJ_FILE = "traj_data.json"
PROBLEM_FILE = "initial_state.pddl"

_BANNER = "-= Welcome to TextWorld, ALFRED! =-"
_TASK_RE = re.compile(r"Your task is to:\s*(.+)", re.S)
_PUT_RE = re.compile(r"^put (.+?) (?:in/on|in|on|into) (.+)$")


def shipped_games_dir() -> str:
    """The hand-authored games shipped with arm-exp (see :mod:`arm_exp.envs.alfworld_games`)."""
    from arm_exp.envs.alfworld_games import shipped_root

    return str(shipped_root())


def _same_dir(a: str, b: str) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).resolve()
    except OSError:
        return False


class AlfWorldDataError(DataError):
    """The ALFWorld data dir is not set, missing, or lacks what a split or game needs."""


@dataclass(frozen=True)
class AlfWorldState:
    """Everything needed to resume an episode (immutable, so it doubles as the snapshot).

    ``commands`` are the admissible commands applied since reset, in order; replaying them on a
    freshly reset engine reproduces the state (the engine is deterministic).
    """

    task_id: str
    commands: tuple[str, ...]
    admissible: tuple[str, ...]
    observation: str
    n_steps: int = 0
    won: bool = False
    done: bool = False


# -- the engine (lazy imports) -------------------------------------------------------------------


@contextlib.contextmanager
def _guard_process_state() -> Iterator[None]:
    """Undo the engine's side effects on the process: fast-downward's PDDL translator overwrites
    ``sys.argv`` on every load/reset, and importing ``alfworld`` sets ``ALFWORLD_DATA`` to
    ``~/.cache/alfworld`` when unset (which would make ``paths.alfworld_data`` look set)."""
    argv = sys.argv  # the translator rebinds sys.argv rather than mutating it
    had = "ALFWORLD_DATA" in os.environ
    try:
        yield
    finally:
        sys.argv = argv
        if not had:
            os.environ.pop("ALFWORLD_DATA", None)


def _alfworld_missing() -> ImportError:
    return ImportError(
        "benchmark=alfworld needs the alfworld extra: pip install -e '.[alfworld]' "
        "(`make test-alfworld` installs it; it compiles fast-downward, a few minutes)"
    )


@cache
def _logic() -> tuple[str, str]:
    """ALFWorld's PDDL domain and text grammar, from the installed ``alfworld`` package."""
    import importlib.util

    spec = importlib.util.find_spec("alfworld")
    if spec is None or not spec.submodule_search_locations:
        raise _alfworld_missing()
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    return (
        (data / "alfred.pddl").read_text(encoding="utf-8"),
        (data / "alfred.twl2").read_text(encoding="utf-8"),
    )


def goal_text(task_type: str, obj: str, recep: str, toggle: str, mrecep: str, key: str) -> str:
    """ALFWorld's templated goal text for a goal of ``task_type`` (``goal_library`` templates,
    lower-case type names); the template is picked by a stable hash of ``key`` (ALFWorld picks
    it at random once, when it generates the game file)."""
    with _guard_process_state():
        try:
            from alfworld.gen import goal_library
        except ImportError as e:
            raise _alfworld_missing() from e
    templates = goal_library.gdict[task_type]["templates"]
    pick = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % len(templates)
    return str(templates[pick]).format(obj=obj, recep=recep, toggle=toggle, mrecep=mrecep)


def goal_description(traj_data: Mapping[str, Any], key: str) -> str:
    """The goal text of a trial, as ``alfworld-generate`` writes into a game (:func:`goal_text`)."""
    params = traj_data["pddl_params"]
    return goal_text(
        traj_data["task_type"],
        obj=params["object_target"].lower(),
        recep=params["parent_target"].lower(),
        toggle=params["toggle_target"].lower(),
        mrecep=params["mrecep_target"].lower(),
        key=key,
    )


def build_game(trial_dir: Path, key: str) -> dict[str, Any]:
    """A ``game.tw-pddl`` document for a trial that has none: the installed domain and grammar,
    the trial's ``initial_state.pddl``, and its templated goal (what ``alfworld-generate`` does,
    minus the solvability check, which the shipped games' tests perform)."""
    domain, grammar = _logic()
    traj = json.loads((trial_dir / TRAJ_FILE).read_text(encoding="utf-8"))
    return {
        "pddl_domain": domain,
        "grammar": grammar.replace("UNKNOWN GOAL", goal_description(traj, key)),
        "pddl_problem": (trial_dir / PROBLEM_FILE).read_text(encoding="utf-8"),
        "solvable": None,
        "walkthrough": (traj.get("arm_exp") or {}).get("walkthrough"),
    }


# A state's facts: (predicate, argument, ...) in lower case with the demangled names the
# commands use ("mug 1", "countertop 2"); type constants lose their "type" suffix
# (("objecttype", "mug 1", "mug")).
Facts = frozenset[tuple[str, ...]]


def _facts(propositions: list[Any]) -> Facts:
    def name(arg: Any) -> str:
        text = str(arg.name).strip().lower()
        return text.removesuffix("type") if arg.type in ("otype", "rtype") else text

    return frozenset((str(f.name).lower(), *map(name, f.arguments)) for f in propositions)


class _Engine:
    """One textworld ``PddlEnv`` (its own copy of the fast-downward library) with ALFWorld's
    demangler; remembers which game it has loaded and the commands applied since reset."""

    def __init__(self) -> None:
        with _guard_process_state():
            try:
                import textworld
                from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
                from textworld.envs import PddlEnv
            except ImportError as e:
                raise _alfworld_missing() from e
            self._pddl: Any = PddlEnv(
                textworld.EnvInfos(won=True, admissible_commands=True, facts=True)
            )
            self._env: Any = AlfredDemangler(self._pddl, shuffle=False)
        self.game: str | None = None
        # Commands applied since the last reset; None right after a load (not reset yet).
        self.commands: list[str] | None = None
        # The state's facts after the last reset or step (textworld's propositions).
        self.propositions: list[Any] = []

    def load(self, key: str, data: dict[str, Any]) -> None:
        with _guard_process_state():
            self._env.load(data)
        self.game = key
        self.commands = None

    def reset(self) -> tuple[str, tuple[str, ...], bool]:
        with _guard_process_state():
            state = self._env.reset()
        self.commands = []
        self.propositions = state["facts"]
        return str(state.feedback), tuple(state["admissible_commands"]), bool(state["won"])

    def step(self, command: str) -> tuple[str, tuple[str, ...], bool]:
        if self.commands is None:
            raise RuntimeError("alfworld engine stepped before reset")
        state, _, _ = self._env.step(command)
        self.commands.append(command)
        self.propositions = state["facts"]
        return str(state.feedback), tuple(state["admissible_commands"]), bool(state["won"])

    def close(self) -> None:
        """Drop the engine. Its copy of the fast-downward library stays loaded (about 2 MiB):
        fast-downward's plugin registry is a process-wide unique symbol that every copy
        shares, and ``fast_downward.close_lib`` on one copy crashes the next copy's load."""
        self._pddl = None
        self._env = None
        self.game = None
        self.commands = None


# -- the env -------------------------------------------------------------------------------------


class AlfWorldEnv:
    """ALFWorld text games (see the module docstring for x, y, r and the settings).

    Args:
        data_dir: the ALFWorld data dir (``$ALFWORLD_DATA``, holding ``json_2.1.1/``); configs
            pass ``paths.alfworld_data``. Checked on first use, not here, so configs instantiate
            without data.
        splits: split name -> dir relative to ``data_dir`` (default: ALFWorld's train /
            valid_seen / valid_unseen as ``train`` / ``seen`` / ``unseen``).
        max_steps: steps per episode, invalid ones included (ETO/ARMAP: 40).
        build_games: build a trial's game from its ``initial_state.pddl`` and ``traj_data.json``
            when it has no ``game.tw-pddl`` (the hand-authored games ship that way; ALFWorld's
            own data ships a game file per solvable trial, so leave this off for it).
        legacy_put_alias: accept "put X in/on Y" for "move X to Y" (see the module docstring).
    """

    benchmark = "alfworld"

    def __init__(
        self,
        data_dir: str | None,
        splits: Mapping[str, str] | None = None,
        max_steps: int = 40,
        build_games: bool = False,
        legacy_put_alias: bool = True,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps={max_steps}: must be >= 1")
        self.data_dir = data_dir
        self.splits = dict(splits or DEFAULT_SPLITS)
        self.max_steps = max_steps
        self.build_games = build_games
        self.legacy_put_alias = legacy_put_alias
        # Runs on the hand-authored games are labelled apart: they are not ALFWorld numbers.
        if data_dir is not None and _same_dir(str(data_dir), shipped_games_dir()):
            self.benchmark = "alfworld_shipped"
        self._types: dict[str, str] = {}
        self._why_not: dict[str, str | None] = {}  # task id -> why it cannot be played (None)
        self._engine: _Engine | None = None
        self._state: AlfWorldState | None = None
        self._intent = ""
        self._counters = {
            "env_steps": 0,
            "engine_steps": 0,
            "resets": 0,
            "game_loads": 0,
            "invalid_actions": 0,
            "legacy_aliases": 0,
            "valid_actions_calls": 0,
            "restores": 0,
            "restore_resets": 0,
            "replayed_steps": 0,
        }

    # -- data --------------------------------------------------------------------------------
    def root(self) -> Path:
        """The data dir, checked: a clear error names ``paths.alfworld_data`` if it is unusable."""
        if self.data_dir is None or str(self.data_dir).strip() in ("", "None", "???"):
            raise AlfWorldDataError(
                "the ALFWorld data dir is not set: set ALFWORLD_DATA or pass "
                "paths.alfworld_data=DIR (the dir holding json_2.1.1/, as written by "
                "`alfworld-download`); benchmark=alfworld_shipped plays the hand-authored games "
                "shipped with arm-exp instead"
            )
        root = Path(str(self.data_dir)).expanduser()
        if not root.is_dir():
            raise AlfWorldDataError(f"paths.alfworld_data={self.data_dir}: no such directory")
        return root

    def task_ids(self, split: str) -> list[str]:
        if split not in self.splits:
            raise UnknownSplitError(self.benchmark, split, sorted(self.splits))
        root = self.root()
        split_dir = root / self.splits[split]
        if not split_dir.is_dir():
            raise AlfWorldDataError(
                f"paths.alfworld_data={self.data_dir}: split {split!r} expects the directory "
                f"{self.splits[split]}/ there (benchmark.env.splits.{split})"
            )
        ids = []
        for traj in sorted(split_dir.rglob(TRAJ_FILE)):
            trial = traj.parent
            rel = trial.relative_to(root).as_posix()
            if "movable" in rel or "Sliced" in rel:
                continue  # not supported by ALFWorld's text engine (AlfredTWEnv skips them too)
            if self._unplayable(trial, rel) is None:
                ids.append(rel)
        return ids

    def task_type(self, task_id: str) -> str:
        """One of :data:`TASK_TYPES` (from the trial's ``traj_data.json``)."""
        if task_id not in self._types:
            self._unplayable(self._trial_dir(task_id), task_id)
        if task_id not in self._types:
            raise UnknownTaskError(f"alfworld task {task_id!r}: no readable {TRAJ_FILE}")
        return self._types[task_id]

    def walkthrough(self, task_id: str) -> list[str] | None:
        """The game's expert plan as commands (``walkthrough`` of its game file, or the
        ``arm_exp`` block of a hand-authored trial), or None if it has none."""
        data = self._game_data(self._trial_dir(task_id), task_id)
        plan = data.get("walkthrough")
        return list(plan) if plan else None

    def _trial_dir(self, task_id: str) -> Path:
        root = self.root()
        rel = Path(str(task_id))
        trial = (root / rel).resolve()
        if rel.is_absolute() or not trial.is_relative_to(root.resolve()) or not trial.is_dir():
            raise UnknownTaskError(
                f"alfworld task id {task_id!r}: expected a trial dir relative to "
                f"paths.alfworld_data={self.data_dir}"
            )
        return trial

    def _unplayable(self, trial: Path, task_id: str) -> str | None:
        """Why the trial cannot be played (None if it can); records its task type."""
        if task_id not in self._why_not:
            self._why_not[task_id] = self._check(trial, task_id)
        return self._why_not[task_id]

    def _check(self, trial: Path, task_id: str) -> str | None:
        try:
            traj = json.loads((trial / TRAJ_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            return f"unreadable {TRAJ_FILE}: {e}"
        task_type = traj.get("task_type") if isinstance(traj, dict) else None
        if task_type not in TASK_TYPES:
            return f"task type {task_type!r} is not one of ALFWorld's six"
        self._types[task_id] = task_type
        game = trial / GAME_FILE
        if game.exists():
            try:
                solvable = json.loads(game.read_text(encoding="utf-8")).get("solvable")
            except (OSError, ValueError) as e:
                return f"unreadable {GAME_FILE}: {e}"
            return None if solvable else f"{GAME_FILE} is not marked solvable"
        if self.build_games and (trial / PROBLEM_FILE).exists():
            return None
        return f"no {GAME_FILE} (and build_games is off or there is no {PROBLEM_FILE})"

    def _game_data(self, trial: Path, task_id: str) -> dict[str, Any]:
        reason = self._unplayable(trial, task_id)
        if reason is not None:
            raise UnknownTaskError(f"alfworld task {task_id!r}: {reason}")
        game = trial / GAME_FILE
        if game.exists():
            return json.loads(game.read_text(encoding="utf-8"))
        return build_game(trial, task_id)

    # -- episode -----------------------------------------------------------------------------
    def _load(self, task_id: str) -> _Engine:
        if self._engine is not None and self._engine.game == task_id:
            return self._engine
        data = self._game_data(self._trial_dir(task_id), task_id)  # bad ids fail before the engine
        if self._engine is None:
            self._engine = _Engine()
        if self._engine.game != task_id:
            self._engine.load(task_id, data)
            self._counters["game_loads"] += 1
        return self._engine

    def reset(self, task_id: str) -> str:
        task_id = str(task_id)
        engine = self._load(task_id)
        feedback, admissible, won = engine.reset()
        self._counters["resets"] += 1
        body = feedback.split(_BANNER, 1)[-1].strip()
        obs = "\n".join(p.strip() for p in body.split("\n\n") if p.strip())
        m = _TASK_RE.search(obs)
        self._intent = m.group(1).strip() if m else ""
        self._state = AlfWorldState(task_id, (), admissible, obs, won=won, done=won)
        return obs

    def intent(self) -> str:
        return self._intent

    def _require_state(self) -> AlfWorldState:
        if self._state is None:
            raise RuntimeError("AlfWorldEnv.step/valid_actions called before reset()")
        return self._state

    def valid_actions(self) -> list[str]:
        state = self._require_state()
        self._counters["valid_actions_calls"] += 1
        return [] if state.done else list(state.admissible)

    def _match(self, action: Any, admissible: tuple[str, ...]) -> str | None:
        if not isinstance(action, str) or len(action) > MAX_ACTION_CHARS:
            return None
        command = " ".join(action.split()).rstrip(".").strip().lower()
        if command in admissible:
            return command
        if self.legacy_put_alias:
            m = _PUT_RE.match(command)
            if m is not None and (moved := f"move {m.group(1)} to {m.group(2)}") in admissible:
                self._counters["legacy_aliases"] += 1
                return moved
        return None

    def step(self, action: str) -> StepResult:
        state = self._require_state()
        self._counters["env_steps"] += 1
        if state.done:
            return "The episode is over.", 0.0, True, self._info(state, invalid=True)
        n_steps = state.n_steps + 1
        command = self._match(action, state.admissible)
        if command is None:
            self._counters["invalid_actions"] += 1
            nxt = replace(state, n_steps=n_steps, observation=NOTHING_HAPPENS)
            invalid = True
        else:
            engine = self._load(state.task_id)
            if engine.commands != list(state.commands):
                self._replay(engine, state)
            feedback, admissible, won = engine.step(command)
            self._counters["engine_steps"] += 1
            nxt = AlfWorldState(
                state.task_id, (*state.commands, command), admissible, feedback, n_steps, won, won
            )
            invalid = False
        truncated = not nxt.done and n_steps >= self.max_steps
        if truncated:
            nxt = replace(nxt, done=True)
        self._state = nxt
        reward = 1.0 if nxt.won and not state.won else 0.0
        return nxt.observation, reward, nxt.done, self._info(nxt, invalid, truncated)

    def _info(
        self, state: AlfWorldState, invalid: bool = False, truncated: bool = False
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "score": 1.0 if state.won else 0.0,
            "success": state.won,
            "won": state.won,
            "invalid": invalid,
        }
        if truncated:
            info["truncated"] = True
        return info

    # -- search support ----------------------------------------------------------------------
    def snapshot(self) -> AlfWorldState:
        return self._require_state()

    def restore(self, snapshot: AlfWorldState) -> None:
        """Return to ``snapshot`` by replay (see the module docstring); the engine catches up
        lazily, on the next valid step, so restoring to try an invalid action costs nothing."""
        if not isinstance(snapshot, AlfWorldState):
            raise TypeError(f"AlfWorldEnv.restore: expected an AlfWorldState, got {snapshot!r}")
        self._counters["restores"] += 1
        self._state = snapshot

    def _replay(self, engine: _Engine, target: AlfWorldState) -> None:
        done = engine.commands
        if done is None or done != list(target.commands[: len(done)]):
            engine.reset()
            self._counters["restore_resets"] += 1
        admissible: tuple[str, ...] | None = None
        for command in target.commands[len(engine.commands or ()) :]:
            _, admissible, _ = engine.step(command)
            self._counters["engine_steps"] += 1
            self._counters["replayed_steps"] += 1
        if admissible is not None and admissible != target.admissible:
            raise RuntimeError(
                f"alfworld task {target.task_id!r}: replaying {len(target.commands)} commands "
                "did not reproduce the snapshot's state (the engine is expected to be "
                "deterministic)"
            )

    def facts(self) -> Facts:
        """The current state's PDDL facts (see :data:`Facts`), what the game's goal formula is
        checked on: ``("inreceptacle", "mug 1", "coffeemachine 1")``, ``("isclean", "mug 1")``,
        ``("objecttype", "mug 1", "mug")``, ``("holds", "agent1", "mug 1")`` ..."""
        state = self._require_state()
        engine = self._load(state.task_id)
        if engine.commands != list(state.commands):
            self._replay(engine, state)
        return _facts(engine.propositions)

    def counters(self) -> dict[str, float]:
        return dict(self._counters)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self._engine = None
        self._state = None
