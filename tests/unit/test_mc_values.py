"""synthesis=mc_values: Monte Carlo values of prefixes, by hand on a scripted env and against
exact values on small Game of 24 states (every valid action enumerated)."""

from __future__ import annotations

import math
import random

import pytest

from arm_exp.agents.base import AgentContext, Proposal
from arm_exp.agents.policy import RandomPolicy
from arm_exp.envs.game24 import Game24Env
from arm_exp.rollout import EpisodeJob, advance, start_cursor
from arm_exp.synthesis.mc_values import MCValueSynthesizer, prefix_lengths
from arm_exp.types import Step, Trajectory


class ChainEnv:
    """Two steps: any first action moves on; the second ends the episode, won iff it is "win"."""

    benchmark = "chain"
    cheap_snapshot = True

    def __init__(self) -> None:
        self.state: tuple[int, bool, bool] = (0, False, False)
        self.steps = 0

    def task_ids(self, split: str) -> list[str]:
        return ["t"]

    def reset(self, task_id: str) -> str:
        self.state = (0, False, False)
        return "start"

    def intent(self) -> str:
        return "win the chain"

    def valid_actions(self) -> list[str]:
        return ["win", "lose"]

    def step(self, action: str):
        self.steps += 1
        n = self.state[0] + 1
        if n == 2:
            won = action == "win"
            self.state = (n, True, won)
            info = {"score": float(won), "success": won, "invalid": False}
            return ("won" if won else "lost"), float(won), True, info
        self.state = (n, False, False)
        return f"at {n} after {action}", 0.0, False, {"score": 0.0, "success": False}

    def snapshot(self):
        return self.state

    def restore(self, snap) -> None:
        self.state = snap

    def counters(self) -> dict[str, float]:
        return {"env_steps": float(self.steps)}

    def close(self) -> None:
        pass


class ScriptedPolicy:
    """Continuation k (its trajectory id ends in /k) plays "win" iff k is in ``wins``."""

    def __init__(self, wins: set[int]) -> None:
        self.wins = wins
        self.calls = 0
        self.closed = False

    def propose(self, contexts: list[AgentContext], n: int = 1, temperature=None):
        self.calls += 1
        out = []
        for ctx in contexts:
            k = int(ctx.trajectory.id.rsplit("/", 1)[1])
            out.append([Proposal(["win" if k in self.wins else "lose"])] * n)
        return out

    def counters(self) -> dict[str, float]:
        return {"policy_calls": float(self.calls)}

    def close(self) -> None:
        self.closed = True


def _play(env, task_id: str, actions: list[str], traj_id: str = "src#0") -> Trajectory:
    cursor = start_cursor(env, EpisodeJob(traj_id, task_id, 0))
    for a in actions:
        cursor.pending.append((a, ""))
        advance(env, cursor, 0, 10)
    return cursor.trajectory


def _chain_synth(wins: set[int], **kw) -> MCValueSynthesizer:
    kw = {"continuations": 4, "max_steps": 10, **kw}
    return MCValueSynthesizer(ChainEnv(), ScriptedPolicy(wins), **kw)


def test_chain_labels_by_hand():
    source = _play(ChainEnv(), "t", ["go", "lose"])
    synth = _chain_synth({0, 2, 3})
    [res] = synth.synthesize([source])
    first, last = res.values
    # After "go": continuations 0, 2 and 3 of 4 play "win": 3/4.
    assert first.value == 0.75
    assert first.meta == {
        "source": "src#0", "prefix_steps": 1, "exact": False, "continuations": 4, "successes": 3,
    }  # fmt: skip
    assert first.id == "src#0@1" and first.intent == "win the chain"
    assert first.prefix.actions == ["go"] and first.prefix.meta["prefix_of"] == "src#0"
    assert first.benchmark == "chain"
    # The run ended after "lose": its own outcome, no rollout.
    assert last.value == 0.0
    assert last.meta["exact"] is True and last.meta["continuations"] == 0
    assert last.prefix.actions == ["go", "lose"] and last.prefix.done
    assert res.kept == {"nonzero": 1, "zero": 1} and not res.dropped
    assert synth.counters()["rollouts"] == 4
    assert synth.counters()["rollout_steps"] == 4  # one step each, after the prefix's one
    assert synth.counters()["exact_labels"] == 1
    assert synth.counters()["policy/policy_calls"] == 1  # the 4 continuations: one batched call


def test_chain_terminal_win_and_all_or_nothing():
    source = _play(ChainEnv(), "t", ["go", "win"])
    [res] = _chain_synth(set()).synthesize([source])
    assert [v.value for v in res.values] == [0.0, 1.0]
    assert res.values[1].meta["successes"] == 1
    [res] = _chain_synth({0, 1, 2, 3}).synthesize([source])
    assert res.values[0].value == 1.0 and res.values[0].meta["successes"] == 4


def test_prefix_cap_counts_as_the_end():
    # With max_steps=1 the first step already ends the episode: labelled exactly, no rollout.
    source = _play(ChainEnv(), "t", ["go"])
    synth = _chain_synth({0, 1, 2, 3}, max_steps=1)
    [res] = synth.synthesize([source])
    [only] = res.values
    assert only.value == 0.0 and only.meta["exact"] is True
    assert synth.counters()["rollouts"] == 0


def test_drops_what_cannot_be_replayed():
    good = _play(ChainEnv(), "t", ["go", "lose"])
    bad = Trajectory.from_dict({**_as_dict(good), "id": "bad#0"})
    bad.steps[0] = Step("go", "somewhere else")
    other_start = Trajectory.from_dict({**_as_dict(good), "id": "o#0", "initial_observation": "x"})
    empty = Trajectory("e#0", "chain", "t", "win the chain", "start")
    error = Trajectory.from_dict(
        {**_as_dict(good), "id": "err#0", "meta": {"stop_reason": "error"}}
    )
    results = _chain_synth({0}).synthesize([bad, other_start, empty, error])
    assert [r.dropped for r in results] == [
        {"replay_mismatch": 1}, {"replay_mismatch": 1}, {"empty_trajectory": 1},
        {"episode_error": 1},
    ]  # fmt: skip
    assert all(not r.values for r in results)


def _as_dict(t: Trajectory) -> dict:
    from arm_exp.types import to_dict

    return to_dict(t)


def test_prefix_lengths():
    rng = random.Random(0)
    assert prefix_lengths(4, None, rng) == [1, 2, 3, 4]
    assert prefix_lengths(4, 4, rng) == [1, 2, 3, 4]
    assert prefix_lengths(4, 9, rng) == [1, 2, 3, 4]
    picked = prefix_lengths(4, 2, rng)
    assert len(set(picked)) == 2 and picked == sorted(picked) and set(picked) <= {1, 2, 3, 4}
    assert prefix_lengths(1, 1, rng) == [1]


def test_prefixes_per_trajectory_is_seeded_per_source():
    source = _play(ChainEnv(), "t", ["go", "lose"])
    a = _chain_synth({0}, prefixes_per_trajectory=1, seed=3).synthesize([source])[0]
    b = _chain_synth({0}, prefixes_per_trajectory=1, seed=3).synthesize([source])[0]
    assert len(a.values) == 1 and [v.id for v in a.values] == [v.id for v in b.values]
    ids = {
        _chain_synth({0}, prefixes_per_trajectory=1, seed=s).synthesize([source])[0].values[0].id
        for s in range(12)
    }
    assert ids == {"src#0@1", "src#0@2"}  # both prefixes are drawn for some seed


@pytest.mark.parametrize(("key", "value"), [("continuations", 0), ("prefixes_per_trajectory", 0)])
def test_refuses_empty_budgets(key, value):
    with pytest.raises(ValueError, match=f"synthesis.{key}={value}"):
        _chain_synth(set(), **{key: value})


def test_close_closes_the_policy():
    synth = _chain_synth(set())
    synth.close()
    assert synth.policy.closed


def _exact(env: Game24Env) -> float:
    """The random policy's success probability from the env's state: the mean, over every
    valid action, of the value after it (the episode's outcome at its end)."""
    state = env.snapshot()
    if state.done:
        return state.score
    actions = env.valid_actions()
    total = 0.0
    for a in actions:
        env.restore(state)
        _, _, done, info = env.step(a)
        total += float(info["success"]) if done else _exact(env)
    env.restore(state)
    return total / len(actions)


def test_game24_labels_match_exact_values():
    # Puzzle 0 is 1 1 4 6: 1 * 1 = 1, 4 * 1 = 4, then 4 and 6 are left.
    env = Game24Env()
    env.reset("0")
    moves = []
    for want in ("1 * 1 = 1", "4 * 1 = 4", "6 * 4 = 24", "Answer"):
        moves.append(next(a for a in env.valid_actions() if a.startswith(want)))
        env.step(moves[-1])
    source = _play(Game24Env(), "0", moves)
    assert source.success
    k = 2000
    synth = MCValueSynthesizer(Game24Env(), RandomPolicy(), continuations=k, max_steps=10)
    [res] = synth.synthesize([source])
    values = {v.meta["prefix_steps"]: v for v in res.values}
    assert sorted(values) == [1, 2, 3, 4]
    # By hand: from 4 6 the six distinct moves give 10, 24, -2, 2, 2/3, 3/2: one in six wins.
    replay = Game24Env()
    exact = {}
    for t in (1, 2, 3):
        replay.reset("0")
        for a in moves[:t]:
            replay.step(a)
        exact[t] = _exact(replay)
    assert exact[2] == pytest.approx(1 / 6)
    assert exact[3] == 1.0  # 24 is left: the only move is the right answer
    for t in (1, 2):
        se = math.sqrt(exact[t] * (1 - exact[t]) / k)
        assert abs(values[t].value - exact[t]) < 4 * se, (t, values[t].value, exact[t])
    assert values[3].value == 1.0 and values[3].meta["successes"] == k
    assert values[4].value == 1.0 and values[4].meta["exact"] is True


class RecordingPolicy(ScriptedPolicy):
    def __init__(self, wins: set[int]) -> None:
        super().__init__(wins)
        self.temperatures: list = []
        self.seeds: list = []
        self.intents: list = []

    def propose(self, contexts, n=1, temperature=None):
        self.temperatures.append(temperature)
        self.seeds += [c.trajectory.meta["seed"] for c in contexts]
        self.intents += [c.intent for c in contexts]
        return super().propose(contexts, n, temperature)


def test_defaults_messages_and_budgets():
    s = MCValueSynthesizer(ChainEnv(), ScriptedPolicy(set()))
    assert (s.continuations, s.prefixes_per_trajectory, s.temperature, s.max_steps, s.seed,
            s.batch_size) == (8, None, None, 100, 0, 64)  # fmt: skip
    assert _chain_synth(set(), continuations=1, batch_size=3).batch_size == 3
    with pytest.raises(ValueError) as err:
        _chain_synth(set(), prefixes_per_trajectory=0)
    assert str(err.value) == (
        "synthesis.prefixes_per_trajectory=0: must be >= 1 (null: every prefix)"
    )


def test_continuations_draw_their_own_seeds_at_the_given_temperature():
    from arm_exp.rollout import derive_seed

    source = _play(ChainEnv(), "t", ["go", "lose"])
    policy = RecordingPolicy({0})
    synth = MCValueSynthesizer(ChainEnv(), policy, continuations=3, temperature=0.3, seed=7)
    [res] = synth.synthesize([source])
    assert res.source_id == "src#0"
    assert policy.temperatures == [0.3]
    assert policy.seeds == [derive_seed(7, "mc_values", "src#0", 1, k) for k in range(3)]
    assert policy.intents == ["win the chain"] * 3


def test_counters_add_up_over_sources():
    a = _play(ChainEnv(), "t", ["go", "lose"], "a#0")
    b = _play(ChainEnv(), "t", ["go", "win"], "b#0")
    synth = _chain_synth({0})
    synth.synthesize([a, b])
    c = synth.counters()
    assert (c["rollouts"], c["rollout_steps"], c["exact_labels"]) == (8, 8, 2)


def test_prefixes_drawn_from_the_sources_own_stream():
    from arm_exp.rollout import derive_seed

    source = _play(ChainEnv(), "t", ["go", "lose"])
    for seed in range(6):
        [res] = _chain_synth({0}, prefixes_per_trajectory=1, seed=seed).synthesize([source])
        want = prefix_lengths(2, 1, random.Random(derive_seed(seed, "mc_values", "src#0")))
        assert [v.meta["prefix_steps"] for v in res.values] == want


class InvalidChainEnv(ChainEnv):
    """ChainEnv where "bad" is an invalid action: recorded or retried, the state stays."""

    def step(self, action: str):
        if action == "bad":
            self.steps += 1
            return "invalid action", 0.0, False, {"score": 0.0, "success": False, "invalid": True}
        return super().step(action)


class BadOncePolicy:
    """Proposes "bad" until a "bad" was played or rejected in the episode, then "win"."""

    def propose(self, contexts: list[AgentContext], n: int = 1, temperature=None):
        out = []
        for ctx in contexts:
            t = ctx.trajectory
            tried = "bad" in [s.action for s in t.steps] or bool(t.meta.get("rejected"))
            out.append([Proposal(["win" if tried else "bad"])] * n)
        return out

    def counters(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        pass


def test_continuations_record_invalid_steps_as_explore_does():
    """No invalid-action retries in the continuations (explore's default): "bad" costs the step,
    so with max_steps=2 the continuation after "go" ends lost; a retry would have won."""
    source = _play(InvalidChainEnv(), "t", ["go", "lose"])
    synth = MCValueSynthesizer(InvalidChainEnv(), BadOncePolicy(), continuations=2, max_steps=2)
    [res] = synth.synthesize([source])
    assert [v.value for v in res.values] == [0.0, 0.0]
    assert res.values[0].meta["successes"] == 0 and res.values[0].meta["exact"] is False


def test_a_recorded_invalid_step_replays():
    """A source run with an invalid step in it replays step for step (no retry on replay)."""
    source = _play(InvalidChainEnv(), "t", ["go", "bad", "win"])
    assert source.steps[1].observation == "invalid action" and source.success
    synth = MCValueSynthesizer(InvalidChainEnv(), BadOncePolicy(), continuations=1, max_steps=10)
    [res] = synth.synthesize([source])
    assert not res.dropped
    assert [v.meta["prefix_steps"] for v in res.values] == [1, 2, 3]
    assert res.values[-1].value == 1.0
