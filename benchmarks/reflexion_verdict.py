"""Reflexion with and without the environment's verdict in the reflection prompt (Game of 24).

    .venv/bin/python benchmarks/reflexion_verdict.py [--puzzles 8] [--trials 4] [--tiny]

Issue 16: our reflection prompt used to list every observation of the failed attempt, the
terminal one included ("Wrong answer: the expression equals 25, not 24."), so ARMAP-R learned
from the ground truth instead of the reward model. The fix (:func:`arm_exp.types.
shown_observations`) leaves the terminal observation out. This script runs the same Reflexion
(greedy trials, ARMAP's answer rule for Game of 24: the last trial; stop on success: the oracle
scorer, so the stopping rule is the same for both) with the embedded SmolLM2-135M policy on the
first ``--puzzles`` test puzzles, once with the fixed prompt and once with the old, leaky one
(rebuilt here), and prints one reflection prompt of each and the success rates.

SmolLM2-135M solves almost no puzzle: the numbers show the plumbing and the prompt difference,
not what a verdict is worth to a capable model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchlib import apply_threads, result, table, tiny_arg
from hydra.utils import instantiate

from arm_exp.agents.base import reflection_prompt
from arm_exp.agents.game24 import Game24Agent
from arm_exp.config import compose
from arm_exp.envs.game24 import Game24Env
from arm_exp.llm.base import Prompt
from arm_exp.planning.reflexion import ReflexionPlanner
from arm_exp.planning.scorers import OracleScorer
from arm_exp.types import Trajectory

ROOT = Path(__file__).resolve().parents[1]


def leaky_reflection_prompt(intent: str, trajectory: Trajectory) -> Prompt:
    """The reflection prompt before the fix: every observation, the env's verdict included."""
    lines = [f"Task: {intent}", trajectory.initial_observation, "", "Your attempt:"]
    for s in trajectory.steps:
        lines.append(f"Action: {s.action}")
        if s.observation:
            lines.append(f"Observation: {s.observation}")
    lines += [
        "",
        "The attempt did not accomplish the task. In two or three sentences, write "
        "'STATUS: FAIL' and then 'New plan:' followed by what to do differently next time.",
    ]
    return [{"role": "user", "content": "\n".join(lines)}]


class LeakyGame24Agent(Game24Agent):
    def reflection_prompt(self, intent: str, trajectory: Trajectory) -> Prompt:
        return leaky_reflection_prompt(intent, trajectory)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--puzzles", type=int, default=8)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=96, help="per policy answer (the agent's)")
    ap.add_argument("--reflection-max-tokens", type=int, default=128, help="the planner's")
    ap.add_argument("--max-steps", type=int, default=100, help="per trial (the planner's)")
    tiny_arg(ap)
    args = ap.parse_args()
    if args.tiny:
        args.puzzles, args.trials, args.max_tokens, args.reflection_max_tokens = 1, 2, 8, 8
        args.max_steps = 2
    apply_threads(args.threads)
    cfg = compose("plan", [f"paths.root_dir={ROOT}", "policy=llm", "planner=reflexion"], None)
    llm = instantiate(cfg.llm)
    env = Game24Env()
    tasks = [str(900 + i) for i in range(args.puzzles)]
    rows, shown = [], {}
    for name, agent in (
        ("no verdict (fixed)", Game24Agent(max_tokens=args.max_tokens)),
        ("verdict (old)", LeakyGame24Agent(max_tokens=args.max_tokens)),
    ):
        from arm_exp.agents.policy import LLMPolicy

        policy = LLMPolicy(llm, agent, temperature=0.0, seed=0)
        planner = ReflexionPlanner(
            trials=args.trials,
            temperature=0.0,
            answer="last",
            reflection_max_tokens=args.reflection_max_tokens,
            max_steps=args.max_steps,
        )
        wins, trials, any_wins = 0, 0.0, 0
        for task in tasks:
            ep = planner.plan(task, env, policy, OracleScorer())
            wins += ep.success
            any_wins += bool(ep.counters["oracle_success"])
            trials += ep.counters["trials"]
            if name not in shown and ep.meta["reflections"]:
                failed = ep.trajectory if not ep.success else None
                if failed is not None:
                    make = getattr(agent, "reflection_prompt", None) or reflection_prompt
                    shown[name] = (
                        make(failed.intent, failed)[0]["content"],
                        ep.meta["reflections"][0],
                    )
        rows.append([name, len(tasks), wins, f"{trials / len(tasks):.2f}", any_wins])
        slug = "fixed" if name.startswith("no") else "leaky"
        result(f"reflexion_success_{slug}", wins / len(tasks), "-", "fraction")
    for name, (prompt, reflection) in shown.items():
        print(
            f"\n--- reflection prompt, {name} ---\n{prompt}\n--- its first reflection ---\n{reflection}"
        )
    print(
        table(["reflection prompt", "puzzles", "solved", "mean trials", "any trial solved"], rows)
    )
    llm.close()


if __name__ == "__main__":
    main()
