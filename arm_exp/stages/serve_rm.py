"""``arm-exp serve-rm``: the reward model behind an HTTP scoring endpoint.

For agents that do not run in Python. ``POST /score`` with
``{"intents": [...], "trajectories": [{"steps": [{"action": ..., "observation": ...}, ...]}, ...]}``
returns ``{"scores": [...]}`` (one per intent, higher is better); a trajectory may also carry
``initial_observation`` and a step ``thought`` (what the renderer shows), and any other
:class:`~arm_exp.types.Trajectory` field (``id``, ``task_id``, ``score``, ...), which scoring
ignores. A malformed body is a 400 whose message names the item and the field. ``GET /health``,
``GET /info`` (model spec, renderer, calibration thresholds). Concurrent
requests are merged into one batched, cached ``RewardScorer.score`` call (micro-batching), the
opposite of the reference implementation's one-request-one-forward server. Built on the standard
library's HTTP server like ``serve-llm`` (no FastAPI dependency).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from arm_exp.config import require
from arm_exp.reward.scorer import RewardScorer
from arm_exp.serving import JsonHandler, MicroBatcher, make_server
from arm_exp.stages.base import Stage
from arm_exp.stages.lifecycle import echo
from arm_exp.types import Step, Trajectory

MAX_ITEMS = 4096
_TRAJECTORY_FIELDS = {f.name for f in fields(Trajectory)}
_STEP_FIELDS = {f.name for f in fields(Step)}
_SHAPE = 'expected {"steps": [{"action": str, "observation": str}, ...]}'


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, not {type(value).__name__}")
    return value


def parse_trajectory(i: int, intent: str, d: Any) -> Trajectory:
    """``trajectories[i]`` of a ``/score`` body, or a ValueError naming the item and field."""
    where = f"trajectories[{i}]"
    if not isinstance(d, dict):
        raise ValueError(f"{where} must be an object, not {type(d).__name__}; {_SHAPE}")
    unknown = sorted(set(d) - _TRAJECTORY_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r}; {_SHAPE}")
    steps = d.get("steps")
    if not isinstance(steps, list):
        raise ValueError(f"{where}.steps must be a list; {_SHAPE}")
    parsed = []
    for j, st in enumerate(steps):
        at = f"{where}.steps[{j}]"
        if not isinstance(st, dict):
            raise ValueError(f"{at} must be an object, not {type(st).__name__}; {_SHAPE}")
        bad = sorted(set(st) - _STEP_FIELDS) or [
            k for k in ("action", "observation") if k not in st
        ]
        if bad:
            what = "unknown field" if bad[0] not in ("action", "observation") else "missing"
            raise ValueError(f"{at}: {what} {bad[0]!r}; {_SHAPE}")
        _text(st["action"], f"{at}.action")
        _text(st["observation"], f"{at}.observation")
        _text(st.get("thought", ""), f"{at}.thought")
        parsed.append(Step(**st))
    base = {"id": f"item{i}", "benchmark": "", "task_id": "", "initial_observation": ""}
    traj = Trajectory(**{**base, **d, "intent": intent, "steps": parsed})
    _text(traj.initial_observation, f"{where}.initial_observation")
    return traj


class _Batch:
    def __init__(self, scorer: RewardScorer) -> None:
        self.scorer = scorer

    def __call__(self, requests: list[tuple[list[str], list[Trajectory]]]) -> list[list[float]]:
        intents = [i for r in requests for i in r[0]]
        trajs = [t for r in requests for t in r[1]]
        scores = self.scorer.score(intents, trajs)
        out, pos = [], 0
        for r in requests:
            out.append(scores[pos : pos + len(r[0])])
            pos += len(r[0])
        return out


class RMHandler(JsonHandler):
    scorer: RewardScorer
    batcher: MicroBatcher

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/health":
            return 200, {"status": "ok"}
        if method == "GET" and path == "/info":
            cal = self.scorer.calibration
            thresholds = (
                {f"negative_q{q}": self.scorer.threshold(q) for q in (0.5, 0.9, 0.95)}
                if cal.negative
                else {}
            )
            return 200, {
                **self.scorer.info(),
                "thresholds": thresholds,
                "counters": self.scorer.counters(),
            }
        if method == "POST" and path == "/score":
            intents, trajs = body.get("intents"), body.get("trajectories")
            if (
                not isinstance(intents, list)
                or not isinstance(trajs, list)
                or len(intents) != len(trajs)
            ):
                raise ValueError(
                    'the body needs equal-length lists "intents" (strings) and "trajectories"; '
                    + _SHAPE.replace("expected", "each trajectory")
                )
            if len(intents) > MAX_ITEMS:
                raise ValueError(f"at most {MAX_ITEMS} items per request")
            texts = [_text(x, f"intents[{i}]") for i, x in enumerate(intents)]
            parsed = [
                parse_trajectory(i, x, t) for i, (x, t) in enumerate(zip(texts, trajs, strict=True))
            ]
            return 200, {"scores": self.batcher.submit((texts, parsed))}
        return 404, {"error": {"message": f"no route {method} {path}"}}


def serve(scorer: RewardScorer, host: str = "127.0.0.1", port: int = 8001, max_batch: int = 64):
    batcher = MicroBatcher(_Batch(scorer), max_batch=max_batch, max_wait_s=0.01)
    return make_server(host, port, RMHandler, scorer=scorer, batcher=batcher)


def run(cfg: DictConfig) -> dict[str, float]:
    require(cfg, "rm_ckpt")
    scorer = instantiate(cfg.scorer)
    server = serve(scorer, str(cfg.serve.host), int(cfg.serve.port), int(cfg.serve.max_batch))
    host, port = server.server_address[:2]
    echo(f"reward model at http://{host}:{port}/score (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return {}


# A server: no cache key, no run to reuse.
STAGE = Stage(name="serve_rm", run=run, reads=("rm_ckpt", "scorer", "serve"))

if __name__ == "__main__":
    STAGE.main()
