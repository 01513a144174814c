"""ALFWorld's synthesis kit: hindsight goals from the game's PDDL state (our stand-in for ARMAP's
LLM hindsight prompt, which ``synthesis=llm`` keeps).

ALFWorld's goals are six templates over the state (``alfworld.gen.goal_library``); with
``o`` an object of type ``obj``, ``r`` a receptacle of type ``recep``:

- ``put`` (pick_and_place_simple): ``inReceptacle(o, r)``;
- ``clean`` / ``heat`` / ``cool``: the same and ``isClean(o)`` / ``isHot(o)`` / ``isCool(o)``
  (only the clean / heat / cool commands set these, and only for cleanable / heatable /
  coolable objects, so those predicates need no check of their own);
- ``two`` (pick_two_obj_and_place): two distinct objects of type ``obj`` in one ``r``;
- ``look`` (look_at_obj_in_light): the agent holds an ``obj`` and a toggled lamp of type
  ``toggle`` sits in a receptacle at the agent's location.

:meth:`AlfWorldKit.goals` lists every instance of these that the final state satisfies (most
specific first: two, clean/heat/cool, look, put); :class:`~arm_exp.synthesis.hindsight.
StateHindsightKit` keeps those the initial state did not satisfy and picks the one achieved
last. The intent is ALFWorld's own template text (``goal_text``, a template picked per source
trajectory), with the trailing period the game's "Your task is to: ..." line has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from arm_exp.envs.alfworld import AlfWorldEnv, Facts, goal_text
from arm_exp.synthesis.hindsight import Goal, StateHindsightKit
from arm_exp.types import Trajectory

# goal kind -> (ALFWorld task type, the state predicate the object must also satisfy)
KINDS = {
    "two": ("pick_two_obj_and_place", None),
    "clean": ("pick_clean_then_place_in_recep", "isclean"),
    "heat": ("pick_heat_then_place_in_recep", "ishot"),
    "cool": ("pick_cool_then_place_in_recep", "iscool"),
    "look": ("look_at_obj_in_light", None),
    "put": ("pick_and_place_simple", None),
}


def _types(facts: Facts) -> dict[str, str]:
    return {f[1]: f[2] for f in facts if f[0] in ("objecttype", "receptacletype")}


def _placed(facts: Facts) -> list[tuple[str, str]]:
    return [(f[1], f[2]) for f in facts if f[0] == "inreceptacle"]


def goal_holds(kind: str, obj: str, target: str, facts: Facts) -> bool:
    """Whether ``facts`` satisfy the goal (``target``: the receptacle type, or the lamp type for
    ``look``), as the game's PDDL goal formula for that task type states it."""
    types = _types(facts)
    if kind == "look":
        held = any(f[0] == "holds" and types.get(f[2]) == obj for f in facts)
        here = {f[2] for f in facts if f[0] == "atlocation"}
        at = {f[1] for f in facts if f[0] == "receptacleatlocation" and f[2] in here}
        lit = any(
            types.get(o) == target and r in at and ("istoggled", o) in facts
            for o, r in _placed(facts)
        )
        return held and lit
    placed = [(o, r) for o, r in _placed(facts) if types.get(o) == obj and types.get(r) == target]
    if kind == "two":
        return any(n >= 2 for n in Counter(r for _, r in placed).values())
    state = KINDS[kind][1]
    return any(state is None or (state, o) in facts for o, _ in placed)


class AlfWorldKit(StateHindsightKit):
    """Args: ``env`` (``benchmark.env``), ``intents``, ``min_positive_score``, ``margin``,
    ``max_truncations``, ``pairs``, ``truncated_negatives``: see
    :class:`~arm_exp.synthesis.hindsight.StateHindsightKit`."""

    def __init__(
        self,
        env: AlfWorldEnv,
        intents: str = "state",
        min_positive_score: float = 1.0,
        margin: float = 0.5,
        max_truncations: int = 3,
        pairs: bool = False,
        truncated_negatives: bool = True,
    ) -> None:
        super().__init__(
            "alfworld",
            env,
            intents,
            min_positive_score,
            margin,
            max_truncations,
            pairs,
            truncated_negatives,
        )

    def goals(self, trajectory: Trajectory, states: Sequence[Facts]) -> list[Goal]:
        facts = states[-1]
        types = _types(facts)
        found: set[tuple[str, str, str]] = set()
        for o, r in _placed(facts):
            obj, recep = types.get(o), types.get(r)
            if obj is None or recep is None:
                continue
            found.add(("put", obj, recep))
            for kind in ("clean", "heat", "cool"):
                if (KINDS[kind][1], o) in facts:
                    found.add((kind, obj, recep))
        counts = Counter((types.get(o), types.get(r)) for o, r in _placed(facts))
        found |= {("two", o, r) for (o, r), n in counts.items() if n >= 2 and o and r}
        held = {types[f[2]] for f in facts if f[0] == "holds" and f[2] in types}
        lamps = {types[o] for o, _ in _placed(facts) if ("istoggled", o) in facts and o in types}
        found |= {("look", obj, lamp) for obj in held for lamp in lamps}
        order = list(KINDS)
        return [
            self._goal_of(kind, obj, target, trajectory.id)
            for kind, obj, target in sorted(found, key=lambda g: (order.index(g[0]), g[1:]))
        ]

    def _goal_of(self, kind: str, obj: str, target: str, key: str) -> Goal:
        task_type = KINDS[kind][0]
        toggle, recep = (target, "") if kind == "look" else ("", target)
        text = goal_text(task_type, obj=obj, recep=recep, toggle=toggle, mrecep="", key=key)
        return Goal(kind, (obj, target), f"{text}.")

    def holds(self, goal: Goal, state: Facts) -> bool:
        obj, target = goal.args
        return goal_holds(goal.kind, obj, target, state)
