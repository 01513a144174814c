"""ALFWorld agent: ReAct (Thought/Action) with one in-context example per task type.

The prompt is a chat in ETO's "conversation" layout: the instruction (``prompts/alfworld/
instruction.txt``), an "OK" from the assistant, then the in-context example for the episode's
task type played out as earlier turns (observations as user turns prefixed "Observation:",
"Thought: ...\\nAction: ..." as assistant turns, ending on its winning action), then the
current task (after any reflections) and its steps so far.
The examples (``prompts/alfworld/examples.json``) are arm-exp's own, one per task type, written
on the hand-authored ``train`` games; their observations are the engine's (a test replays them).

The task type comes from the trajectory's ``meta["task_type"]`` (the rollout runner records the
env's :meth:`~arm_exp.envs.alfworld.AlfWorldEnv.task_type`); a trajectory without one (e.g. a
hand-built context) gets it from the wording of the goal, see :func:`infer_task_type`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from arm_exp.agents.base import AgentContext, Proposal, format_reflections
from arm_exp.envs.alfworld import MAX_ACTION_CHARS, TASK_TYPES
from arm_exp.llm.base import Message, Prompt

# Each optional run is anchored by a distinct character (no `\s*\**\s*`: with `\**` empty the two
# `\s*` split a whitespace run in O(n^2) ways, so blank-line-heavy output took seconds).
_ACTION_RE = re.compile(
    r"^[^\S\n]*(?:\*+[^\S\n]*)?action[^\S\n]*(?:\*+[^\S\n]*)?:\s*(.*)$", re.I | re.M
)
_THOUGHT_RE = re.compile(r"^\s*(?:\*+\s*)?thought\s*(?:\*+\s*)?:\s*(?:\*+\s*)?", re.I)
_MAX_TEXT = 4000

# Goal wordings of ALFWorld's templates, most specific first (see infer_task_type).
_TYPE_CUES = (
    ("look_at_obj_in_light", re.compile(r"\blook at\b|\bexamine\b|\bunder the\b|\blamp\b")),
    ("pick_two_obj_and_place", re.compile(r"\btwo\b")),
    ("pick_clean_then_place_in_recep", re.compile(r"\bclean\b")),
    ("pick_heat_then_place_in_recep", re.compile(r"\bhot\b|\bheat\b")),
    ("pick_cool_then_place_in_recep", re.compile(r"\bcool\b")),
)


def infer_task_type(intent: str) -> str:
    """The ALFWorld task type a goal's wording names ("put a hot mug in cabinet" -> heat),
    ``pick_and_place_simple`` when it names none."""
    text = intent.lower() if isinstance(intent, str) else ""
    for task_type, cue in _TYPE_CUES:
        if cue.search(text):
            return task_type
    return "pick_and_place_simple"


@cache
def load_examples() -> dict[str, dict[str, Any]]:
    """The in-context examples, one per task type (``prompts/alfworld/examples.json``)."""
    path = resources.files("arm_exp.agents").joinpath("prompts/alfworld/examples.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    examples = {k: v for k, v in data.items() if not k.startswith("_")}
    missing = set(TASK_TYPES) - set(examples)
    if missing:
        raise ValueError(f"{path}: no in-context example for task types {sorted(missing)}")
    return examples


def _turn(thought: str, action: str) -> str:
    return f"Thought: {thought}\nAction: {action}" if thought else f"Action: {action}"


class AlfWorldAgent:
    """ReAct prompt for ALFWorld and a parser for its ``Action:`` line.

    Args:
        max_tokens: per generation (ARMAP: 150 new tokens per step).
        max_history_steps: keep only the last N steps of the current episode in the prompt
            (None keeps all, as ETO does; small context windows such as the embedded CPU
            model's need a limit).
    """

    def __init__(self, max_tokens: int = 150, max_history_steps: int | None = None) -> None:
        if max_history_steps is not None and max_history_steps < 1:
            raise ValueError(f"max_history_steps={max_history_steps}: must be >= 1 or null")
        self.max_tokens = max_tokens
        self.max_history_steps = max_history_steps
        self.stop: list[str] | None = ["\nObservation"]
        text = resources.files("arm_exp.agents").joinpath("prompts/alfworld/instruction.txt")
        self._instruction = text.read_text(encoding="utf-8").strip()
        self._examples = load_examples()

    def task_type(self, ctx: AgentContext) -> str:
        task_type = ctx.trajectory.meta.get("task_type")
        return task_type if task_type in self._examples else infer_task_type(ctx.intent)

    def prompt(self, ctx: AgentContext) -> Prompt:
        example = self._examples[self.task_type(ctx)]
        messages: list[Message] = [
            {"role": "user", "content": self._instruction},
            {"role": "assistant", "content": "OK"},
            {"role": "user", "content": example["observation"]},
        ]
        for s in example["steps"]:
            messages.append({"role": "assistant", "content": _turn(s["thought"], s["action"])})
            messages.append({"role": "user", "content": f"Observation: {s['observation']}"})
        # ETO's layout: the example's last turn is the winning action; the new task follows.
        messages.pop()
        steps = ctx.trajectory.steps
        shown = steps if self.max_history_steps is None else steps[-self.max_history_steps :]
        task = ctx.trajectory.initial_observation
        if len(shown) < len(steps):
            task += f"\n(Your first {len(steps) - len(shown)} steps are not shown.)"
        reflections = format_reflections(ctx.reflections).strip()
        content = f"{reflections}\n\n{task}" if reflections else task
        messages.append({"role": "user", "content": content})
        for s in shown:
            messages.append({"role": "assistant", "content": _turn(s.thought, s.action)})
            messages.append({"role": "user", "content": f"Observation: {s.observation}"})
        return messages

    def parse(self, text: str) -> Proposal:
        """The command on the first ``Action:`` line (markdown and quotes stripped) and the
        thought before it; no actions if there is no ``Action:`` line. Never raises."""
        if not isinstance(text, str):
            return Proposal([], text="")
        text = text[:_MAX_TEXT]
        m = _ACTION_RE.search(text)
        if m is None:
            return Proposal([], text=text, thought=_THOUGHT_RE.sub("", text.strip()).strip())
        thought = _THOUGHT_RE.sub("", text[: m.start()].strip()).strip()
        action = m.group(1).replace("**", "").replace("`", "").strip().strip("\"'").strip()
        if not action or len(action) > MAX_ACTION_CHARS:
            return Proposal([], text=text, thought=thought)
        return Proposal([action], text=text, thought=thought)
