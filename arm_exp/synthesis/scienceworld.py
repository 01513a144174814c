"""ScienceWorld's synthesis kit: hindsight goals from the state changes the engine reports (our
stand-in for ARMAP's LLM hindsight prompt, which ``synthesis=llm`` keeps).

The engine states each change it makes in the step's observation; the kit turns them into
goals in the style of ScienceWorld's task descriptions ("Your task is to ..."):

- "You move the wood cup to the table." -> ``in``: "Your task is to move the wood cup to the
  table." ("... pick up the wood cup." when the target is the inventory);
- "The stove is now activated." / "deactivated." -> ``activated`` / ``deactivated``: "Your
  task is to turn on (off) the stove.";
- "The fridge is now open." / "closed." -> ``open`` / ``closed``: "Your task is to open (close)
  the fridge.";
- "You teleport to the kitchen." / "You move through the door to the kitchen." -> ``agent_in``:
  "Your task is to go to the kitchen."

A goal is checked on the engine's object tree (:class:`~arm_exp.envs.scienceworld.WorldState`):
some object the parser knows by that name is in some object or room known by the target's name,
or is open / closed / on / off; the agent is in that room. :class:`~arm_exp.synthesis.
hindsight.StateHindsightKit` keeps the goals the final state satisfies and the initial state did
not, and picks the one achieved last (ties: the order above).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from arm_exp.envs.scienceworld import ScienceWorldEnv, WorldState
from arm_exp.synthesis.hindsight import Goal, StateHindsightKit
from arm_exp.types import Trajectory

_MOVE = re.compile(r"^You move the (?P<a>.+?) to the (?P<b>.+)\.$")
_GO = re.compile(r"^You (?:teleport|move through the door) to the (?P<b>.+)\.$")
_STATE = re.compile(r"^The (?P<a>.+) is now (?P<s>open|closed|activated|deactivated)\.$")
ORDER = ("in", "activated", "deactivated", "open", "closed", "agent_in")
_VERB = {
    "activated": "turn on",
    "deactivated": "turn off",
    "open": "open",
    "closed": "close",
}


def goal_of(observation: str) -> Goal | None:
    """The goal the change an observation reports would achieve, if it reports one."""
    text = observation.strip()
    if m := _MOVE.match(text):
        a, b = m["a"], m["b"]
        intent = f"pick up the {a}" if b == "inventory" else f"move the {a} to the {b}"
        return Goal("in", (a, b), f"Your task is to {intent}.")
    if m := _GO.match(text):
        return Goal("agent_in", (m["b"],), f"Your task is to go to the {m['b']}.")
    if m := _STATE.match(text):
        return Goal(m["s"], (m["a"],), f"Your task is to {_VERB[m['s']]} the {m['a']}.")
    return None


def goal_holds(goal: Goal, world: WorldState) -> bool:
    if goal.kind == "in":
        a, b = goal.args
        targets = set(world.named(b))
        return any(world.parent.get(o) in targets for o in world.named(a))
    if goal.kind == "agent_in":
        return world.agent is not None and world.parent.get(world.agent) in world.named(
            goal.args[0]
        )
    ids = {
        "open": world.open,
        "closed": world.closed,
        "activated": world.activated,
        "deactivated": world.deactivated,
    }[goal.kind]
    return any(o in ids for o in world.named(goal.args[0]))


class ScienceWorldKit(StateHindsightKit):
    """Args: ``env`` (``benchmark.env``), ``intents``, ``min_positive_score``, ``margin``,
    ``max_truncations``, ``pairs``, ``truncated_negatives``: see
    :class:`~arm_exp.synthesis.hindsight.StateHindsightKit`."""

    def __init__(
        self,
        env: ScienceWorldEnv,
        intents: str = "state",
        min_positive_score: float = 0.5,
        margin: float = 0.1,
        max_truncations: int = 3,
        pairs: bool = False,
        truncated_negatives: bool = True,
    ) -> None:
        super().__init__(
            "scienceworld",
            env,
            intents,
            min_positive_score,
            margin,
            max_truncations,
            pairs,
            truncated_negatives,
        )

    def goals(self, trajectory: Trajectory, states: Sequence[WorldState]) -> list[Goal]:
        found = {g for s in trajectory.steps if (g := goal_of(s.observation)) is not None}
        return sorted(found, key=lambda g: (ORDER.index(g.kind), g.args))

    def holds(self, goal: Goal, state: WorldState) -> bool:
        return goal_holds(goal, state)
