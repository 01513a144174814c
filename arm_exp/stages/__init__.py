"""The stages' registry: each stage's command, module and one-line summary.

A stage's module ends with its declaration, ``STAGE = Stage(...)``
(:class:`arm_exp.stages.base.Stage`); :func:`get` imports it on first use, so listing the stages
(``arm-exp --help``) loads none of them. Adding a stage: a module with ``run`` and ``STAGE``, a
``conf/<name>.yaml``, and one line here (docs/architecture.md, "Add a stage").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arm_exp.stages.base import Stage

# command -> (module under arm_exp.stages, what it does); in pipeline order
REGISTRY: dict[str, tuple[str, str]] = {
    "goals": ("goals", "synthesize new task goals (WebShop, ARMAP) -> goals.jsonl"),
    "explore": ("explore", "run an explorer on a benchmark split -> trajectories.jsonl"),
    "synthesize": (
        "synthesize",
        "intents and negatives -> triplets.jsonl (mc_values: step values -> values.jsonl)",
    ),
    "train": ("train", "train the reward model on triplets -> checkpoints/best.ckpt"),
    "plan": ("plan", "plan with a policy, a planner and a scorer -> episodes.jsonl, metrics.json"),
    "export": ("export", "a reward-model checkpoint as a Hugging Face folder -> model/"),
    "report": ("report", "tables and plots from plan runs -> report.csv, report.md, *.png"),
    "pipeline": ("pipeline", "explore -> synthesize -> train -> plan -> report, each stage cached"),
    "serve-rm": ("serve_rm", "serve the reward model over HTTP (POST /score), batching requests"),
    "serve-llm": ("serve_llm", "serve an LLM backend over an OpenAI-compatible HTTP API"),
}


def module_name(command: str) -> str:
    """``serve-rm`` -> ``arm_exp.stages.serve_rm``."""
    return f"arm_exp.stages.{REGISTRY[command][0]}"


def get(command: str) -> Stage:
    """The declaration of stage ``command`` (``plan``, ``serve-rm``; ``serve_rm`` too)."""
    command = command.replace("_", "-")
    stage: Stage = importlib.import_module(module_name(command)).STAGE
    return stage
