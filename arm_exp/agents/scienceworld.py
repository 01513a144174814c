"""ScienceWorld agent: ReAct-style (Thought / Action) prompting with one in-context example.

The prompt follows ETO's format, which ARMAP uses: the first user turn holds the instructions
(locations, action templates, answer format), one worked example (a real, replayable episode
of a training variation, ``prompts/scienceworld/example.json``) and the task description; then
each step is an assistant turn ``Thought: ...\\nAction: ...`` and a user turn
``Observation: ...``. Roles strictly alternate, so every chat template accepts it.

Parsing is lenient about form and strict about content: ``Action:`` may be any case, carry
markdown emphasis or a number (``**Action 2:**``), and the action may be quoted, back-ticked
or end with a period; whitespace is collapsed and the action lower-cased. Text after an
``Observation:`` line (the model imagining the answer) is ignored. Output without an
``Action:`` line gives an action only when it is a single short line (a bare ``look around``);
otherwise no action, and the runner hands the raw text to the env, which answers with an
"unknown action" observation.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from arm_exp.agents.base import AgentContext, Proposal, format_reflections, load_prompt
from arm_exp.envs.scienceworld import MAX_ACTION_CHARS
from arm_exp.llm.base import Message, Prompt

_MAX_TEXT = 4000
_BARE_ACTION_CHARS = 80
# `\s*(?:\d+\s*)?(?:[*_]+\s*)?` rather than `\s*\d*\s*[*_]*\s*`: the latter splits a run of spaces
# in O(n^2) ways before failing (seconds on a line of spaces without a colon).
_ACTION = re.compile(
    r"^[\s*_#>`-]*action\s*(?:\d+\s*)?(?:[*_]+\s*)?[:：]\s*[*_]*(?P<rest>.*)$", re.I
)
_THOUGHT = re.compile(
    r"^[\s*_#>`-]*thought\s*(?:\d+\s*)?(?:[*_]+\s*)?[:：]\s*[*_]*(?P<rest>.*)$", re.I
)
_OBSERVATION = re.compile(r"^[\s*_#>`-]*observation\s*(?:\d+\s*)?(?:[*_]+\s*)?[:：]", re.I)
_QUOTES = "\"'`*_“”‘’"


@cache
def load_example() -> dict[str, Any]:
    """The in-context example: ``task_id`` (a training variation) and its chat ``turns``."""
    path = resources.files("arm_exp.agents").joinpath("prompts/scienceworld/example.json")
    return json.loads(path.read_text(encoding="utf-8"))


def render_example(turns: list[Message]) -> str:
    """The example's turns as one transcript (task, then Thought/Action/Observation lines)."""
    return "\n".join(t["content"] for t in turns)


def clean_action(text: str) -> str:
    """Normalise an action string: no quotes/emphasis, no final period, single spaces, lower."""
    action = " ".join(text.split()).strip(_QUOTES + " ")
    action = action.rstrip(".").strip(_QUOTES + " ")
    return action.lower()


class ScienceWorldAgent:
    """Prompt building and action parsing for ScienceWorld (see the module docstring).

    Args:
        max_tokens: per generation (ARMAP: 150 new tokens per step).
        max_history: show only the last N steps (None: all, as ETO does); for models with a
            short context window.
        template: the prompt template's name under ``prompts/scienceworld/``.
    """

    def __init__(
        self, max_tokens: int = 150, max_history: int | None = None, template: str = "policy"
    ) -> None:
        if max_history is not None and max_history < 1:
            raise ValueError(f"max_history={max_history}: must be >= 1 (or null for all)")
        self.max_tokens = max_tokens
        self.max_history = max_history
        self.stop: list[str] | None = ["\nObservation:"]
        self._template = load_prompt("scienceworld", template)
        self._example = render_example(load_example()["turns"])

    def prompt(self, ctx: AgentContext) -> Prompt:
        steps = ctx.trajectory.steps
        shown = steps if self.max_history is None else steps[-self.max_history :]
        task = ctx.intent
        if len(shown) < len(steps):
            task += f"\n(Your first {len(steps) - len(shown)} steps are not shown.)"
        first = self._template.substitute(
            example=self._example,
            task=task,
            reflections=format_reflections(ctx.reflections),
        )
        messages: list[Message] = [
            {"role": "user", "content": first.replace("\n\n\n", "\n\n").strip()}
        ]
        for s in shown:
            thought = f"Thought: {s.thought}\n" if s.thought else ""
            messages.append({"role": "assistant", "content": f"{thought}Action: {s.action}"})
            messages.append({"role": "user", "content": f"Observation: {s.observation}"})
        return messages

    def parse(self, text: str) -> Proposal:
        if not isinstance(text, str):
            return Proposal([], text="")
        lines: list[str] = []
        for line in text[:_MAX_TEXT].splitlines():
            if _OBSERVATION.match(line):
                break
            lines.append(line)
        thought: list[str] = []
        action = ""
        in_thought = False
        for i, line in enumerate(lines):
            m = _ACTION.match(line)
            if m:
                action = m.group("rest")
                if not action.strip(_QUOTES + " "):
                    # "Action:" alone on its line: the action is on the next non-empty line.
                    action = next((x for x in lines[i + 1 :] if x.strip()), "")
                break
            t = _THOUGHT.match(line)
            if t:
                in_thought = True
                thought.append(t.group("rest").strip())
            elif in_thought and line.strip():
                thought.append(line.strip())
        else:
            rest = [x for x in lines if x.strip()]
            if len(rest) == 1 and not _THOUGHT.match(rest[0]):
                action = rest[0]
        action = clean_action(action)
        thought_text = " ".join(x for x in thought if x)
        if not action or len(action) > MAX_ACTION_CHARS:
            return Proposal([], text=text, thought=thought_text)
        return Proposal([action], text=text, thought=thought_text)
