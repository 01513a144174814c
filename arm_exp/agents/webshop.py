"""WebShop agent: a ReAct-style chat prompt ("Thought: ... / Action: ...") and a robust parser.

The prompt follows the format of the LLM-agent literature on WebShop (ReAct, AgentBench, ETO,
ARMAP): the task description and one worked example, then the episode as chat turns, each user
turn an ``Observation:`` in WebShop's ``[SEP]`` text format followed, on the latest turn, by
``Available Actions: {"has_search_bar": ..., "clickables": [...]}``; each assistant turn a
thought and one ``search[...]`` or ``click[...]`` action.
"""

from __future__ import annotations

import json
import re

from arm_exp.agents.base import AgentContext, Proposal, format_reflections, load_prompt
from arm_exp.envs.webshop import MAX_ACTION_CHARS
from arm_exp.llm.base import Message, Prompt

_MAX_TEXT = 4000
_MAX_THOUGHT = 1000
_CALL = re.compile(rf"\b(search|click)\s*\[([^\[\]\n]{{0,{MAX_ACTION_CHARS}}})\]", re.I)
# `[^\w\n]*`, not `\W*`: a leading run must not cross lines, or every line start rescans the rest
# of the text (quadratic on blank-line-heavy output).
_ACTION_LABEL = re.compile(r"^[^\w\n]*action\s*(?:\d+\s*)?:", re.I | re.M)
_THOUGHT_LABEL = re.compile(r"^[^\w\n]*(?:thought|think|reasoning)\s*:\s*", re.I | re.M)
OMITTED = "(earlier page omitted)"


def available_actions(valid_actions: list[str]) -> dict[str, object]:
    """WebShop's ``get_available_actions()`` dict, from the env's valid action strings."""
    searches = [a for a in valid_actions if a.startswith("search[")]
    clicks = [a[len("click[") : -1] for a in valid_actions if a.startswith("click[")]
    if searches:
        return {"has_search_bar": True, "clickables": ["search", *clicks]}
    return {"has_search_bar": False, "clickables": clicks}


class WebShopAgent:
    """Prompt building and action parsing for WebShop.

    Args:
        max_tokens: per generation (ARMAP: 150 new tokens per step).
        max_history: steps whose observations stay in the prompt in full; older ones are
            replaced by a placeholder (their actions stay). None keeps everything.
        template: prompt file under ``agents/prompts/webshop/``.
    """

    def __init__(
        self, max_tokens: int = 150, max_history: int | None = 5, template: str = "policy"
    ) -> None:
        if max_history is not None and max_history < 1:
            raise ValueError(f"max_history={max_history}: must be >= 1 or null")
        self.max_tokens = max_tokens
        self.max_history = max_history
        self.stop: list[str] | None = ["\nObservation:", "\nObservation :"]
        self._template = load_prompt("webshop", template)

    def prompt(self, ctx: AgentContext) -> Prompt:
        steps = ctx.trajectory.steps
        keep_from = 0 if self.max_history is None else len(steps) - self.max_history
        intro = self._template.substitute(reflections=format_reflections(ctx.reflections))
        first = ctx.trajectory.initial_observation if keep_from <= 0 else OMITTED
        turns: list[str] = [
            first,
            *(s.observation if i >= keep_from else OMITTED for i, s in enumerate(steps)),
        ]
        actions = json.dumps(available_actions(ctx.valid_actions()))
        messages: list[Message] = []
        for i, obs in enumerate(turns):
            user = f"Observation:\n{obs}"
            if i == len(turns) - 1:
                user += f"\nAvailable Actions: {actions}"
            if i == 0:
                user = f"{intro.rstrip()}\n\n{user}"
            messages.append({"role": "user", "content": user})
            if i < len(steps):
                s = steps[i]
                reply = (
                    f"Thought: {s.thought}\nAction: {s.action}"
                    if s.thought
                    else f"Action: {s.action}"
                )
                messages.append({"role": "assistant", "content": reply})
        return messages

    def parse(self, text: str) -> Proposal:
        """The first ``search[...]``/``click[...]`` after an ``Action:`` label (else anywhere),
        and the thought before it. Never raises; no action if none is found."""
        if not isinstance(text, str):
            return Proposal([], text="")
        clean = text[:_MAX_TEXT].replace("**", "").replace("`", "")
        label = _ACTION_LABEL.search(clean)
        call = _CALL.search(clean, label.end()) if label else None
        call = call or _CALL.search(clean)
        if call is None:
            return Proposal([], text=text, thought=_thought(clean, len(clean)))
        action = f"{call.group(1).lower()}[{call.group(2).strip()}]"
        end = label.start() if label and label.start() <= call.start() else call.start()
        return Proposal([action], text=text, thought=_thought(clean, end))


def _thought(text: str, end: int) -> str:
    head = text[:end]
    m = _THOUGHT_LABEL.search(head)
    body = head[m.end() :] if m else head
    return " ".join(body.split())[:_MAX_THOUGHT]
