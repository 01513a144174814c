"""The Env protocol: what every benchmark environment implements.

Semantics (fixed; planners, explorers and the reward model rely on them):

- Task ids are strings. Game of 24: the puzzle's 0-based row in 24.csv (``"900"``);
  ScienceWorld: ``"<task name>/<variation>"`` (``"boil/21"``); WebShop: the goal index;
  ALFWorld: the game path relative to the data dir. ``task_ids(split)`` lists a split in a
  fixed order (``limit=N`` takes the first N).
- An observation is the text the agent sees. ``reset(task_id)`` returns the first one;
  ``intent()`` the task's natural-language goal (what the agent is asked to do).
- ``step(action) -> (observation, reward, done, info)``: ``info["score"]`` is the benchmark's
  own metric so far in [0, 1]; ``reward`` is its increment caused by this step;
  ``info["success"]`` is the benchmark's success criterion; ``info["invalid"]`` is True when the
  action was not understood or not legal (the state is then unchanged and the observation says
  why). Actions are untrusted model output: ``step`` never raises on a malformed action.
- ``valid_actions()`` lists the legal next actions (may be costly; only call it when needed).
- ``snapshot()``/``restore(s)`` save and restore the full state so search (MCTS) never replays a
  trajectory from the start. An env whose engine cannot clone state documents how it restores
  and counts the extra steps in its counters.
  ``cheap_snapshot = True`` declares that both are O(1), so several trajectories may share one
  env in lock-step (Best-of-N); otherwise they run one after another.
- ``counters()`` returns cumulative cost counters (at least ``env_steps``).
- Optional: ``task_type(task_id) -> str`` groups tasks (ScienceWorld's 30 task types, ALFWorld's
  six); the runner stores it in ``Trajectory.meta["task_type"]`` and stages then report their
  metrics per type as well as overall.
- Optional: ``task_meta(task_id) -> dict`` adds JSON fields to ``Trajectory.meta`` (ScienceWorld:
  ``variation``); ``max_parallel() -> int`` caps the runner's env pool (one JVM per env must fit
  in memory).
- Optional: ``forget()`` drops state that earlier episodes left behind and that would change
  the next one (ScienceWorld restarts its JVM: its listing order depends on the worlds it
  loaded); ``plan`` calls it between tasks, so an episode depends only on its task and seed.
- ``info["error"]`` (a string) on the last step marks an episode the env had to abort (its
  engine crashed); the runner records it in ``Trajectory.meta["error"]`` with
  ``stop_reason="error"``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from arm_exp.errors import ConfigError

Observation = str
StepResult = tuple[Observation, float, bool, dict[str, Any]]


@runtime_checkable
class Env(Protocol):
    benchmark: str

    def task_ids(self, split: str) -> list[str]: ...

    def reset(self, task_id: str) -> Observation: ...

    def intent(self) -> str: ...

    def step(self, action: str) -> StepResult: ...

    def valid_actions(self) -> list[str]: ...

    def snapshot(self) -> Any: ...

    def restore(self, snapshot: Any) -> None: ...

    def counters(self) -> dict[str, float]: ...

    def close(self) -> None: ...


class UnknownSplitError(ConfigError):
    """Raised for a ``split=`` value the benchmark does not have."""

    def __init__(self, benchmark: str, split: str, valid: list[str]):
        super().__init__(
            f"split={split!r} is not a split of benchmark {benchmark!r}; valid splits: {valid}"
        )


class UnknownTaskError(ConfigError):
    """Raised by ``reset`` for a task id the benchmark does not have."""
