"""The hand-authored ALFWorld games shipped with arm-exp: specs and the ALFRED-format writer.

ALFWorld's games (``alfworld-download``) cannot be fetched here, so arm-exp ships 18 small games
of its own, written by hand for tests and CPU demos: three per task type (one ``train`` game
whose expert walkthrough is the agent's in-context example, one ``valid_seen`` game in a room
the train games use, one ``valid_unseen`` game in a room they do not). They are **not** from the
ALFRED/ALFWorld dataset; their scene numbers (901-905) lie outside ALFRED's ranges.

Each game is written in ALFRED's trial format, which the real engine consumes:
``json_2.1.1/<split>/<task_type>-<Object>-None-<Receptacle>-<scene>/<trial>/`` holding
``initial_state.pddl`` (the PDDL problem for ALFWorld's ``alfred.pddl`` domain) and
``traj_data.json`` (``task_type``, ``pddl_params``, ``scene``, ``turk_annotations``, and an
``arm_exp`` block marking the game as hand-authored with its expert walkthrough). The env builds
the ``game.tw-pddl`` file from these and the installed ``alfworld`` package's domain and grammar
(``AlfWorldEnv(build_games=True)``), as ``alfworld-generate`` does.

The files under ``arm_exp/data/alfworld/`` are rendered from :data:`GAMES` by::

    python -m arm_exp.envs.alfworld_games --write   # or --check (exit 1 if they differ)

Rendering reads ALFRED's object affordances and receptacle compatibilities from
``alfworld.gen.constants`` (so the ``alfworld`` extra is needed to render, not to play).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

DATA_VERSION = "json_2.1.1"
SPLIT_DIRS = ("train", "valid_seen", "valid_unseen")

# Lamps are switched on where they stand; ALFRED never lets the agent pick them up.
_NOT_PICKUPABLE = {"DeskLamp", "FloorLamp"}
# ALFRED names a sink's (or bathtub's) receptacle part "<Sink id>|SinkBasin".
_BASINS = {"SinkBasin": "Sink", "BathtubBasin": "Bathtub"}


@dataclass(frozen=True)
class Room:
    """A room: its label (ALFRED's ``floor_plan``), a scene number, its receptacles."""

    floor_plan: str
    scene_num: int
    receptacles: tuple[tuple[str, int], ...]  # (ALFRED receptacle class, how many)
    base: dict[str, tuple[str, ...]] = field(default_factory=dict)  # shared distractors


@dataclass(frozen=True)
class Game:
    """One trial: task, where things are (display names, e.g. ``"cabinet 2"``), and its expert
    walkthrough in the engine's commands."""

    split: str
    trial: str
    room: Room
    task_type: str
    obj: str  # pddl_params.object_target (ALFRED class)
    recep: str  # pddl_params.parent_target ("" for look_at_obj_in_light)
    place: dict[str, tuple[str, ...]]  # added to the room's base contents
    desc: str  # a human-style instruction (ALFRED's turk annotation field)
    walkthrough: tuple[str, ...]
    toggle: str = ""  # pddl_params.toggle_target


KITCHEN_A = Room(
    "ArmExpKitchenA",
    901,
    (
        ("Cabinet", 4),
        ("CoffeeMachine", 1),
        ("CounterTop", 2),
        ("DiningTable", 1),
        ("Drawer", 2),
        ("Fridge", 1),
        ("GarbageCan", 1),
        ("Microwave", 1),
        ("Shelf", 1),
        ("SinkBasin", 1),
        ("StoveBurner", 2),
    ),
    {
        "cabinet 1": ("plate 1",),
        "cabinet 3": ("bowl 1",),
        "countertop 1": ("bread 1", "knife 1", "saltshaker 1"),
        "diningtable 1": ("fork 1", "cup 1"),
        "drawer 1": ("spoon 1",),
        "drawer 2": ("dishsponge 1",),
        "fridge 1": ("tomato 1",),
        "shelf 1": ("vase 1",),
        "stoveburner 2": ("pot 1",),
    },
)
BEDROOM_B = Room(
    "ArmExpBedroomB",
    902,
    (
        ("Bed", 1),
        ("Desk", 1),
        ("Drawer", 3),
        ("Dresser", 1),
        ("GarbageCan", 1),
        ("Safe", 1),
        ("Shelf", 2),
        ("SideTable", 1),
    ),
    {
        "bed 1": ("pillow 1", "laptop 1"),
        "drawer 1": ("keychain 1",),
        "dresser 1": ("vase 1",),
        "safe 1": ("watch 1",),
        "shelf 2": ("statue 1",),
    },
)
BATHROOM_C = Room(
    "ArmExpBathroomC",
    903,
    (
        ("BathtubBasin", 1),
        ("Cabinet", 3),
        ("CounterTop", 1),
        ("GarbageCan", 1),
        ("HandTowelHolder", 1),
        ("SinkBasin", 1),
        ("Toilet", 1),
        ("ToiletPaperHanger", 1),
        ("TowelHolder", 1),
    ),
    {
        "bathtubbasin 1": ("cloth 1",),
        "cabinet 3": ("toiletpaper 2",),
        "countertop 1": ("soapbottle 1", "candle 1"),
        "handtowelholder 1": ("handtowel 1",),
        "toiletpaperhanger 1": ("toiletpaper 1",),
        "towelholder 1": ("towel 1",),
    },
)
KITCHEN_D = Room(
    "ArmExpKitchenD",
    904,
    (
        ("Cabinet", 6),
        ("CounterTop", 3),
        ("Drawer", 3),
        ("Fridge", 1),
        ("GarbageCan", 1),
        ("Microwave", 1),
        ("SinkBasin", 1),
        ("StoveBurner", 4),
    ),
    {
        "cabinet 2": ("plate 1",),
        "cabinet 5": ("bowl 1",),
        "cabinet 6": ("glassbottle 1",),
        "countertop 1": ("bread 1", "saltshaker 1"),
        "countertop 2": ("knife 1",),
        "countertop 3": ("apple 1",),
        "drawer 2": ("fork 1",),
        "drawer 3": ("spoon 1",),
        "fridge 1": ("lettuce 1", "egg 1"),
        "garbagecan 1": ("tomato 1",),
        "stoveburner 1": ("kettle 1",),
        "stoveburner 3": ("pan 1",),
    },
)
LIVINGROOM_E = Room(
    "ArmExpLivingRoomE",
    905,
    (
        ("ArmChair", 1),
        ("CoffeeTable", 1),
        ("Drawer", 2),
        ("GarbageCan", 1),
        ("Shelf", 3),
        ("SideTable", 2),
        ("Sofa", 1),
        ("TVStand", 1),
    ),
    {
        "armchair 1": ("pillow 1",),
        "coffeetable 1": ("book 1",),
        "drawer 1": ("keychain 1",),
        "shelf 1": ("vase 1",),
        "shelf 3": ("tissuebox 1",),
        "sofa 1": ("pillow 2",),
    },
)

GAMES: tuple[Game, ...] = (
    # -- train: the in-context examples ---------------------------------------------------------
    Game(
        "train",
        "trial_H0001_armexp",
        BATHROOM_C,
        "pick_and_place_simple",
        "SprayBottle",
        "Toilet",
        {"cabinet 2": ("spraybottle 1",), "toilet 1": ("soapbar 1",)},
        "Put the spray bottle on the toilet.",
        (
            "go to cabinet 1",
            "open cabinet 1",
            "close cabinet 1",
            "go to cabinet 2",
            "open cabinet 2",
            "take spraybottle 1 from cabinet 2",
            "go to toilet 1",
            "move spraybottle 1 to toilet 1",
        ),
    ),
    Game(
        "train",
        "trial_H0002_armexp",
        BEDROOM_B,
        "look_at_obj_in_light",
        "AlarmClock",
        "",
        {
            "desk 1": ("alarmclock 1", "pen 1"),
            "shelf 1": ("book 1",),
            "sidetable 1": ("desklamp 1",),
        },
        "Look at the alarm clock by the light of the lamp.",
        (
            "go to shelf 1",
            "go to desk 1",
            "take alarmclock 1 from desk 1",
            "go to sidetable 1",
            "use desklamp 1",
        ),
        toggle="DeskLamp",
    ),
    Game(
        "train",
        "trial_H0003_armexp",
        KITCHEN_A,
        "pick_clean_then_place_in_recep",
        "Mug",
        "CoffeeMachine",
        {"countertop 2": ("mug 1", "spatula 1")},
        "Rinse the mug and set it in the coffee machine.",
        (
            "go to countertop 1",
            "go to countertop 2",
            "take mug 1 from countertop 2",
            "go to sinkbasin 1",
            "clean mug 1 with sinkbasin 1",
            "go to coffeemachine 1",
            "move mug 1 to coffeemachine 1",
        ),
    ),
    Game(
        "train",
        "trial_H0004_armexp",
        KITCHEN_A,
        "pick_heat_then_place_in_recep",
        "Egg",
        "CounterTop",
        {"fridge 1": ("egg 1",), "diningtable 1": ("apple 1",)},
        "Warm an egg in the microwave and leave it on the counter.",
        (
            "go to diningtable 1",
            "go to fridge 1",
            "open fridge 1",
            "take egg 1 from fridge 1",
            "go to microwave 1",
            "heat egg 1 with microwave 1",
            "go to countertop 1",
            "move egg 1 to countertop 1",
        ),
    ),
    Game(
        "train",
        "trial_H0005_armexp",
        KITCHEN_A,
        "pick_cool_then_place_in_recep",
        "Pan",
        "StoveBurner",
        {"cabinet 2": ("pan 1",)},
        "Chill the pan in the fridge, then put it on the stove.",
        (
            "go to cabinet 1",
            "open cabinet 1",
            "go to cabinet 2",
            "open cabinet 2",
            "take pan 1 from cabinet 2",
            "go to fridge 1",
            "cool pan 1 with fridge 1",
            "go to stoveburner 1",
            "move pan 1 to stoveburner 1",
        ),
    ),
    Game(
        "train",
        "trial_H0006_armexp",
        BEDROOM_B,
        "pick_two_obj_and_place",
        "CD",
        "Safe",
        {
            "desk 1": ("cd 1", "pen 1"),
            "drawer 2": ("cd 2",),
            "sidetable 1": ("desklamp 1", "alarmclock 1"),
        },
        "Lock both discs in the safe.",
        (
            "go to desk 1",
            "take cd 1 from desk 1",
            "go to safe 1",
            "open safe 1",
            "move cd 1 to safe 1",
            "go to drawer 1",
            "open drawer 1",
            "close drawer 1",
            "go to drawer 2",
            "open drawer 2",
            "take cd 2 from drawer 2",
            "go to safe 1",
            "move cd 2 to safe 1",
        ),
    ),
    # -- valid_seen: rooms the train games use -------------------------------------------------
    Game(
        "valid_seen",
        "trial_H0101_armexp",
        KITCHEN_A,
        "pick_and_place_simple",
        "PepperShaker",
        "Drawer",
        {"countertop 2": ("peppershaker 1", "spatula 1")},
        "Put the pepper shaker away in a drawer.",
        (
            "go to countertop 1",
            "go to countertop 2",
            "take peppershaker 1 from countertop 2",
            "go to drawer 1",
            "open drawer 1",
            "move peppershaker 1 to drawer 1",
        ),
    ),
    Game(
        "valid_seen",
        "trial_H0102_armexp",
        BEDROOM_B,
        "look_at_obj_in_light",
        "Book",
        "",
        {"bed 1": ("book 1",), "desk 1": ("desklamp 1", "pencil 1")},
        "Pick up the book and read it under the desk lamp.",
        (
            "go to bed 1",
            "take book 1 from bed 1",
            "go to desk 1",
            "use desklamp 1",
        ),
        toggle="DeskLamp",
    ),
    Game(
        "valid_seen",
        "trial_H0103_armexp",
        BATHROOM_C,
        "pick_clean_then_place_in_recep",
        "SoapBar",
        "Cabinet",
        {"toilet 1": ("soapbar 1",), "garbagecan 1": ("spraybottle 1",)},
        "Wash the bar of soap and store it in a cabinet.",
        (
            "go to toilet 1",
            "take soapbar 1 from toilet 1",
            "go to sinkbasin 1",
            "clean soapbar 1 with sinkbasin 1",
            "go to cabinet 1",
            "open cabinet 1",
            "move soapbar 1 to cabinet 1",
        ),
    ),
    Game(
        "valid_seen",
        "trial_H0104_armexp",
        KITCHEN_A,
        "pick_heat_then_place_in_recep",
        "Potato",
        "DiningTable",
        {"fridge 1": ("potato 1",)},
        "Microwave the potato and serve it on the dining table.",
        (
            "go to fridge 1",
            "open fridge 1",
            "take potato 1 from fridge 1",
            "go to microwave 1",
            "heat potato 1 with microwave 1",
            "go to diningtable 1",
            "move potato 1 to diningtable 1",
        ),
    ),
    Game(
        "valid_seen",
        "trial_H0105_armexp",
        KITCHEN_A,
        "pick_cool_then_place_in_recep",
        "Lettuce",
        "CounterTop",
        {"diningtable 1": ("lettuce 1",)},
        "Cool the lettuce in the fridge and put it on the counter.",
        (
            "go to diningtable 1",
            "take lettuce 1 from diningtable 1",
            "go to fridge 1",
            "cool lettuce 1 with fridge 1",
            "go to countertop 1",
            "move lettuce 1 to countertop 1",
        ),
    ),
    Game(
        "valid_seen",
        "trial_H0106_armexp",
        BEDROOM_B,
        "pick_two_obj_and_place",
        "Pencil",
        "Shelf",
        {
            "desk 1": ("pencil 1", "cellphone 1"),
            "drawer 1": ("pencil 2",),
            "sidetable 1": ("desklamp 1",),
        },
        "Put two pencils on a shelf.",
        (
            "go to desk 1",
            "take pencil 1 from desk 1",
            "go to shelf 1",
            "move pencil 1 to shelf 1",
            "go to drawer 1",
            "open drawer 1",
            "take pencil 2 from drawer 1",
            "go to shelf 1",
            "move pencil 2 to shelf 1",
        ),
    ),
    # -- valid_unseen: rooms no train game uses ------------------------------------------------
    Game(
        "valid_unseen",
        "trial_H0201_armexp",
        LIVINGROOM_E,
        "pick_and_place_simple",
        "CreditCard",
        "ArmChair",
        {"coffeetable 1": ("creditcard 1",), "sidetable 2": ("desklamp 1",)},
        "Leave the credit card on the armchair.",
        (
            "go to coffeetable 1",
            "take creditcard 1 from coffeetable 1",
            "go to armchair 1",
            "move creditcard 1 to armchair 1",
        ),
    ),
    Game(
        "valid_unseen",
        "trial_H0202_armexp",
        LIVINGROOM_E,
        "look_at_obj_in_light",
        "Statue",
        "",
        {"shelf 2": ("statue 1",), "sidetable 2": ("desklamp 1",)},
        "Examine the statue under the lamp.",
        (
            "go to shelf 1",
            "go to shelf 2",
            "take statue 1 from shelf 2",
            "go to sidetable 1",
            "go to sidetable 2",
            "use desklamp 1",
        ),
        toggle="DeskLamp",
    ),
    Game(
        "valid_unseen",
        "trial_H0203_armexp",
        KITCHEN_D,
        "pick_clean_then_place_in_recep",
        "Spatula",
        "Drawer",
        {"countertop 3": ("spatula 1",)},
        "Wash the spatula and put it in a drawer.",
        (
            "go to countertop 3",
            "take spatula 1 from countertop 3",
            "go to sinkbasin 1",
            "clean spatula 1 with sinkbasin 1",
            "go to drawer 1",
            "open drawer 1",
            "move spatula 1 to drawer 1",
        ),
    ),
    Game(
        "valid_unseen",
        "trial_H0204_armexp",
        KITCHEN_D,
        "pick_heat_then_place_in_recep",
        "Mug",
        "Cabinet",
        {"countertop 1": ("mug 1",)},
        "Heat the mug and put it in a cabinet.",
        (
            "go to countertop 1",
            "take mug 1 from countertop 1",
            "go to microwave 1",
            "heat mug 1 with microwave 1",
            "go to cabinet 1",
            "open cabinet 1",
            "move mug 1 to cabinet 1",
        ),
    ),
    Game(
        "valid_unseen",
        "trial_H0205_armexp",
        KITCHEN_D,
        "pick_cool_then_place_in_recep",
        "WineBottle",
        "CounterTop",
        {"cabinet 4": ("winebottle 1",)},
        "Chill the wine bottle and stand it on the counter.",
        (
            "go to cabinet 4",
            "open cabinet 4",
            "take winebottle 1 from cabinet 4",
            "go to fridge 1",
            "cool winebottle 1 with fridge 1",
            "go to countertop 2",
            "move winebottle 1 to countertop 2",
        ),
    ),
    Game(
        "valid_unseen",
        "trial_H0206_armexp",
        LIVINGROOM_E,
        "pick_two_obj_and_place",
        "RemoteControl",
        "Sofa",
        {
            "coffeetable 1": ("remotecontrol 1",),
            "sidetable 1": ("remotecontrol 2",),
            "sidetable 2": ("desklamp 1",),
        },
        "Put both remotes on the sofa.",
        (
            "go to coffeetable 1",
            "take remotecontrol 1 from coffeetable 1",
            "go to sofa 1",
            "move remotecontrol 1 to sofa 1",
            "go to sidetable 1",
            "take remotecontrol 2 from sidetable 1",
            "go to sofa 1",
            "move remotecontrol 2 to sofa 1",
        ),
    ),
)


# -- rendering ---------------------------------------------------------------------------------


def trial_path(game: Game) -> str:
    """The trial dir relative to the data dir (ALFRED's layout; the env's task id)."""
    recep = game.recep or game.toggle
    task_dir = f"{game.task_type}-{game.obj}-None-{recep}-{game.room.scene_num}"
    return f"{DATA_VERSION}/{game.split}/{task_dir}/{game.trial}"


def _split_name(display: str) -> tuple[str, int]:
    m = re.fullmatch(r"([a-z]+) (\d+)", display)
    if m is None:
        raise ValueError(f"{display!r}: expected '<class> <number>', e.g. 'cabinet 2'")
    return m.group(1), int(m.group(2))


def _ids(classes: dict[str, str], names: list[str]) -> dict[str, str]:
    """PDDL ids for display names, chosen so ALFWorld's demangler shows those very names.

    The demangler sorts a game's ids and hands each class's numbers out from the top
    (the first id in sorted order gets the highest number), so ``cabinet k`` of ``n``
    gets the ``(n - k + 1)``-th id.
    """
    by_class: dict[str, list[int]] = {}
    for name in names:
        cls, num = _split_name(name)
        by_class.setdefault(cls, []).append(num)
    for cls, nums in by_class.items():
        if sorted(nums) != list(range(1, len(nums) + 1)):
            raise ValueError(f"{cls}: numbers {sorted(nums)} must be 1..{len(nums)}, once each")
    out = {}
    for name in names:
        cls, num = _split_name(name)
        camel = classes[cls]
        rank = f"{len(by_class[cls]) - num + 1:02d}"
        out[name] = (
            f"{_BASINS[camel]}_bar_{rank}_bar_{camel}"
            if camel in _BASINS
            else f"{camel}_bar_{rank}"
        )
    return out


def _contents(game: Game) -> dict[str, list[str]]:
    contents = {r: list(objs) for r, objs in game.room.base.items()}
    for r, objs in game.place.items():
        contents.setdefault(r, []).extend(objs)
    return contents


def _goal(game: Game) -> str:
    obj, recep = f"{game.obj}Type", f"{game.recep}Type"
    placed = f"(objectType ?o {obj}) (receptacleType ?r {recep}) (inReceptacle ?o ?r)"
    state = {
        "pick_clean_then_place_in_recep": "(cleanable ?o) (isClean ?o) ",
        "pick_heat_then_place_in_recep": "(heatable ?o) (isHot ?o) ",
        "pick_cool_then_place_in_recep": "(coolable ?o) (isCool ?o) ",
        "pick_and_place_simple": "",
    }
    if game.task_type in state:
        body = f"(exists (?r - receptacle ?o - object) (and {state[game.task_type]}{placed}))"
    elif game.task_type == "pick_two_obj_and_place":
        body = (
            "(exists (?r - receptacle ?o1 - object ?o2 - object) (and (not (= ?o1 ?o2)) "
            f"(receptacleType ?r {recep}) (objectType ?o1 {obj}) (objectType ?o2 {obj}) "
            "(inReceptacle ?o1 ?r) (inReceptacle ?o2 ?r)))"
        )
    elif game.task_type == "look_at_obj_in_light":
        body = (
            "(and (exists (?t - object ?r - receptacle ?a - agent ?l - location) (and "
            f"(objectType ?t {game.toggle}Type) (toggleable ?t) (isToggled ?t) "
            "(receptacleAtLocation ?r ?l) (atLocation ?a ?l) (inReceptacle ?t ?r))) "
            f"(exists (?o - object ?a - agent) (and (objectType ?o {obj}) (holds ?a ?o))))"
        )
    else:
        raise ValueError(f"{game.trial}: unknown task type {game.task_type!r}")
    return f"(:goal {body})"


def render(game: Game) -> dict[str, str]:
    """The trial's files (``initial_state.pddl``, ``traj_data.json``) as text."""
    import alfworld.gen.constants as alfred  # ALFRED's affordances (the alfworld extra)

    classes = {c.lower(): c for c in alfred.OBJECTS}
    contents = _contents(game)
    receptacles = [
        f"{cls.lower()} {k}" for cls, n in game.room.receptacles for k in range(1, n + 1)
    ]
    unknown = set(contents) - set(receptacles)
    if unknown:
        raise ValueError(f"{game.trial}: receptacles {sorted(unknown)} are not in the room")
    objects = [o for r in receptacles for o in contents.get(r, [])]
    if len(set(objects)) != len(objects):
        dupes = sorted(o for o, c in Counter(objects).items() if c > 1)
        raise ValueError(f"{game.trial}: objects placed twice: {dupes}")
    ids = _ids(classes, receptacles + objects)
    cls_of = {n: classes[_split_name(n)[0]] for n in receptacles + objects}
    loc = {
        r: f"loc_bar_{i + 1}_bar_{(3 * i) % 7}_bar_{90 * (i % 4)}_bar_30"
        for i, r in enumerate(receptacles)
    }
    start = "loc_bar_0_bar_0_bar_0_bar_30"
    where = {o: r for r in receptacles for o in contents.get(r, [])}
    rtypes = sorted({cls_of[r] for r in receptacles} | ({game.recep} if game.recep else set()))
    otypes = sorted({cls_of[o] for o in objects} | {game.obj, game.toggle} - {""})

    def objs_with(prop: str) -> list[str]:
        return [o for o in objects if cls_of[o] in alfred.VAL_ACTION_OBJECTS[prop]]

    decl = ["agent1 - agent"]
    decl += [f"{t}Type - otype" for t in otypes]
    decl += [f"{t}Type - rtype" for t in rtypes]
    decl += [f"{ids[o]} - object ; {o}" for o in objects]
    decl += [f"{ids[r]} - receptacle ; {r}" for r in receptacles]
    decl += [f"{start} - location ; where the agent starts"]
    decl += [f"{loc[r]} - location ; in front of {r}" for r in receptacles]

    init = [f"(receptacleType {ids[r]} {cls_of[r]}Type)" for r in receptacles]
    init += [f"(objectType {ids[o]} {cls_of[o]}Type)" for o in objects]
    init += [
        f"(canContain {rt}Type {ot}Type)"
        for rt in sorted({cls_of[r] for r in receptacles})
        for ot in sorted({cls_of[o] for o in objects})
        if ot in alfred.VAL_RECEPTACLE_OBJECTS.get(rt, ())
    ]
    init += [f"(pickupable {ids[o]})" for o in objects if cls_of[o] not in _NOT_PICKUPABLE]
    init += [
        f"(isReceptacleObject {ids[o]})"
        for o in objects
        if cls_of[o] in alfred.MOVABLE_RECEPTACLES_SET
    ]
    init += [f"(openable {ids[r]})" for r in receptacles if cls_of[r] in alfred.OPENABLE_CLASS_SET]
    init += [f"(atLocation agent1 {start})"]
    init += [f"(cleanable {ids[o]})" for o in objs_with("Cleanable")]
    init += [f"(heatable {ids[o]})" for o in objs_with("Heatable")]
    init += [f"(coolable {ids[o]})" for o in objs_with("Coolable")]
    # ALFRED marks what starts in a fridge as already cool.
    init += [f"(isCool {ids[o]})" for o in objects if cls_of[where[o]] == "Fridge"]
    init += [f"(toggleable {ids[o]})" for o in objs_with("Toggleable")]
    init += [f"(sliceable {ids[o]})" for o in objs_with("Sliceable")]
    init += [f"(inReceptacle {ids[o]} {ids[where[o]]})" for o in objects]
    init += [f"(receptacleAtLocation {ids[r]} {loc[r]})" for r in receptacles]
    init += [f"(objectAtLocation {ids[o]} {loc[where[o]]})" for o in objects]

    pddl = "\n".join(
        [
            ";; Hand-authored by arm-exp for tests and CPU demos; not from the ALFRED/ALFWorld",
            f";; dataset. Room {game.room.floor_plan}, task {game.task_type}. Rendered from",
            ";; arm_exp/envs/alfworld_games.py; edit the spec there, not this file.",
            f"(define (problem plan_{game.trial})",
            "(:domain alfred)",
            "(:objects",
            *(f"    {d}" for d in decl),
            ")",
            "(:init",
            *(f"    {f}" for f in init),
            ")",
            _goal(game),
            ")",
            "",
        ]
    )
    traj = {
        "task_id": game.trial,
        "task_type": game.task_type,
        "pddl_params": {
            "object_target": game.obj,
            "parent_target": game.recep,
            "mrecep_target": "",
            "toggle_target": game.toggle,
            "object_sliced": False,
        },
        "scene": {"floor_plan": game.room.floor_plan, "scene_num": game.room.scene_num},
        "turk_annotations": {"anns": [{"task_desc": game.desc, "high_descs": []}]},
        "arm_exp": {
            "hand_authored": True,
            "note": "Written by hand for arm-exp's tests and demos; not ALFRED/ALFWorld data.",
            "walkthrough": list(game.walkthrough),
        },
    }
    return {
        "initial_state.pddl": pddl,
        "traj_data.json": json.dumps(traj, indent=2) + "\n",
    }


def shipped_root() -> Path:
    """Where the rendered games live inside the package (``arm_exp/data/alfworld``)."""
    return Path(str(resources.files("arm_exp.data").joinpath("alfworld")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="(re)write the shipped game files")
    mode.add_argument("--check", action="store_true", help="exit 1 if they differ from the specs")
    args = parser.parse_args(argv)
    root = shipped_root()
    stale = []
    for game in GAMES:
        for name, text in render(game).items():
            path = root / trial_path(game) / name
            if args.write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            elif not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
    for stale_path in stale:
        print(f"differs from its spec: {stale_path}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
