"""WebShop's synthesis kit: ARMAP's WebShop triplets from explored goals, ranked by the env reward.

ARMAP's WebShop data: goals synthesized for sampled products (``arm-exp goals``,
:mod:`arm_exp.synthesis.webshop_goals`), two policies of different strength run on each goal,
and per goal the higher-reward trajectory as the positive and the other as its one negative
(ties dropped): ``pairs=True`` with the ``rule`` strategy and no truncated negatives is that
(the defaults in ``conf/benchmark/webshop.yaml``). :class:`WebShopKit` is
:class:`~arm_exp.synthesis.ranked.ScoreRankedKit` with two WebShop-specific changes:

- intents are the goals the trajectories were run for (``llm_intents = False``): a synthesized
  goal already is the intent, so the ``llm`` strategy does not relabel it in hindsight;
- the LLM-edited negative variant (the synthesizer LLM rewrites the positive into a plausible
  failure) is **replayed** in the env against the positive's goal (kept in the trajectory's
  ``meta["goal"]``, so no ``goals_file`` is needed): its observations and score become the
  env's, and it is kept only if the env scores it at least ``margin`` below the positive, like
  every other negative (``llm_negative_not_worse``). A rewrite with an action the env rejects is
  dropped (``llm_negative_invalid_action``); one that is not a WebShop action sequence at all is
  ``negative_unparseable`` as before.
"""

from __future__ import annotations

from dataclasses import replace

from arm_exp.envs.webshop import WebShopEnv
from arm_exp.envs.webshop_data import Goal
from arm_exp.rollout import clean_info
from arm_exp.synthesis.ranked import ScoreRankedKit
from arm_exp.types import Step, Trajectory


class WebShopKit(ScoreRankedKit):
    """Args:
    env: a WebShop env (``benchmark.env``) to replay LLM-edited negatives in.
    min_positive_score / margin / max_truncations / pairs / truncated_negatives: as
        :class:`ScoreRankedKit` (defaults: ARMAP's reward-ranked pairs, no truncated negatives).
    replay: replay LLM-edited negatives (off: keep them unchecked with score 0, as the generic
        kit does).
    """

    llm_intents = False

    def __init__(
        self,
        env: WebShopEnv,
        min_positive_score: float = 0.5,
        margin: float = 0.1,
        max_truncations: int = 2,
        replay: bool = True,
        pairs: bool = True,
        truncated_negatives: bool = False,
    ) -> None:
        super().__init__(
            "webshop", min_positive_score, margin, max_truncations, pairs, truncated_negatives
        )
        self.env = env
        self.replay = replay

    def parse_negative(self, text: str, positive: Trajectory, kind: str) -> Trajectory | str:
        written = super().parse_negative(text, positive, kind)
        if isinstance(written, str) or not self.replay:
            return written
        return self.replay_negative(written, positive)

    def replay_negative(self, negative: Trajectory, positive: Trajectory) -> Trajectory | str:
        """``negative``'s actions played in the env on ``positive``'s goal, with the env's
        observations, rewards and final score; stops at the end of the episode."""
        goal = (
            Goal.from_dict(positive.meta["goal"])
            if isinstance(positive.meta.get("goal"), dict)
            else self.env.goal(positive.task_id)
        )
        first = self.env.reset_goal(goal, positive.task_id)
        steps: list[Step] = []
        score, success = 0.0, False
        for written in negative.steps:
            obs, reward, done, info = self.env.step(written.action)
            if info.get("invalid"):
                return "llm_negative_invalid_action"
            steps.append(Step(written.action, obs, float(reward), bool(done), "", clean_info(info)))
            score, success = float(info.get("score", 0.0)), bool(info.get("success", False))
            if done:
                break
        return replace(
            negative,
            initial_observation=first,
            steps=steps,
            score=score,
            success=success,
            meta={**negative.meta, "replayed": True, "goal": goal.to_dict()},
        )

    def validate_negative(self, positive: Trajectory, negative: Trajectory) -> str | None:
        reason = super().validate_negative(positive, negative)
        replayed = reason is None and negative.meta.get("replayed")
        margin = 0.0 if self.pairs else self.margin
        if replayed and (
            negative.score >= positive.score or negative.score > positive.score - margin
        ):
            return "llm_negative_not_worse"  # ranked by the env reward, ties dropped
        return reason
