"""Game of 24 agent: a few-shot chain-of-thought prompt and a parser for its step lines."""

from __future__ import annotations

import re

from arm_exp.agents.base import AgentContext, Proposal, format_reflections, load_prompt
from arm_exp.envs.game24 import MAX_ACTION_CHARS
from arm_exp.llm.base import Prompt

_STEP_LINE = re.compile(
    r"^-?\d{1,6}(?:/\d{1,6})?\s*[-+*/×xX÷−–]\s*-?\d{1,6}(?:/\d{1,6})?\s*=\s*-?\d{1,6}(?:/\d{1,6})?"
)
_ANSWER_LINE = re.compile(r"^(?:final\s+)?answer\s*[:\-]", re.I)
_PREFIX = re.compile(r"^\s*(?:[-•]\s+|step\s*\d+\s*[:.)]\s*|\d+\s*[.)]\s+)", re.I)
_MAX_TEXT = 4000
_MAX_ACTIONS = 8


class Game24Agent:
    """Prompt: the task, three worked examples, the input, the steps taken so far.

    The model writes the remaining steps and the answer line in one generation; :meth:`parse`
    returns every well-formed step line in order, up to and including the first answer line.
    Lines that are neither (prose, markdown) are skipped; nothing is evaluated.
    """

    def __init__(self, max_tokens: int = 96, template: str = "policy") -> None:
        self.max_tokens = max_tokens
        self.stop: list[str] | None = ["\n\nInput:"]
        self._template = load_prompt("game24", template)
        self._propose = load_prompt("game24", "propose")

    def propose_prompt(self, ctx: AgentContext) -> Prompt | None:
        """A prompt that asks for a list of possible next steps from the remaining numbers, in
        the spirit of Tree of Thoughts' "propose" prompt (our own wording and examples), for
        MCTS's ``propose`` expansion (ARMAP's Game of 24). None once one number is left: then
        the answer line is all that remains, which the ordinary prompt writes."""
        left = ctx.trajectory.initial_observation.removeprefix("Input:").split()
        for s in ctx.trajectory.steps:
            if not s.info.get("invalid") and isinstance(s.info.get("left"), list):
                left = [str(x) for x in s.info["left"]]
        if len(left) <= 1:
            return None
        return [{"role": "user", "content": self._propose.substitute(numbers=" ".join(left))}]

    def parse_steps(self, text: str) -> list[Proposal]:
        """Each well-formed step line of a propose answer as a one-action proposal, in order
        (answer lines and prose are skipped; never raises)."""
        if not isinstance(text, str):
            return []
        out = []
        for raw in text[:_MAX_TEXT].splitlines()[: 4 * _MAX_ACTIONS]:
            line = _PREFIX.sub("", raw.replace("**", "").replace("`", "")).strip()
            if line and len(line) <= MAX_ACTION_CHARS and _STEP_LINE.match(line):
                out.append(Proposal([line], text=line))
        return out

    def prompt(self, ctx: AgentContext) -> Prompt:
        numbers = ctx.trajectory.initial_observation.removeprefix("Input:").strip()
        lines = []
        for s in ctx.trajectory.steps:
            lines.append(s.action)
            if s.info.get("invalid"):
                lines.append(f"({s.observation})")
        text = self._template.substitute(
            numbers=numbers,
            steps="\n".join(lines),
            reflections=format_reflections(ctx.reflections),
        )
        return [{"role": "user", "content": text.replace("\n\n\nContinue", "\n\nContinue")}]

    def parse(self, text: str) -> Proposal:
        if not isinstance(text, str):
            return Proposal([], text="")
        actions: list[str] = []
        for raw in text[:_MAX_TEXT].splitlines():
            line = _PREFIX.sub("", raw.replace("**", "").replace("`", "")).strip()
            if not line or len(line) > MAX_ACTION_CHARS:
                continue
            if _ANSWER_LINE.match(line):
                actions.append(line)
                break
            if _STEP_LINE.match(line):
                actions.append(line)
            if len(actions) >= _MAX_ACTIONS:
                break
        return Proposal(actions, text=text)
