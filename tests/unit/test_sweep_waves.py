"""A pipeline sweep's shared stages, run first: which stages each job would run
(`pipeline.pending_upstream`, on the real composed configs), how the sweeper orders them into
waves (`sweeps.upstream_waves`), and the idle time a job's stage lock measures."""

from __future__ import annotations

import threading
from pathlib import Path

from arm_exp.config import compose
from arm_exp.stages import pipeline
from arm_exp.sweeps import upstream_waves

TMP = "/tmp/arm-exp-sweep-waves"


def _pending(overrides: list[str], cache: Path) -> list[tuple[str, str]]:
    overrides = [*overrides, f"pipeline.cache_dir={cache}"]
    cfg = compose("pipeline", overrides, TMP, set_hydra_config=False)
    return pipeline.pending_upstream(cfg, overrides)


def test_jobs_that_share_a_reward_model_share_its_pending_stages(tmp_path):
    base = _pending(["planner=best_of_n", "scorer=rm"], tmp_path)
    assert [stage for stage, _ in base] == ["explore", "synthesize", "train"]
    # planner and plan knobs: the same runs
    assert (
        _pending(["planner=mcts", "scorer=rm", "benchmark.planning.best_of_n=7"], tmp_path) == base
    )
    # a loss: the same explore and synthesize, another train run
    loss = _pending(["planner=best_of_n", "scorer=rm", "loss=hinge"], tmp_path)
    assert loss[:2] == base[:2] and loss[2] != base[2]
    # another explore: every node below it differs, synthesize's config being the same
    other = _pending(["planner=best_of_n", "scorer=rm", "explore.num_per_task=3"], tmp_path)
    assert all(a != b for a, b in zip(other, base, strict=True))
    # the first pending stage is named by the key the pipeline runs it under
    overrides = ["planner=best_of_n", "scorer=rm", f"pipeline.cache_dir={tmp_path}"]
    cfg = compose("pipeline", overrides, TMP, set_hydra_config=False)
    subs = pipeline.SubStages(tmp_path, [], None)
    key, _ = subs.keyed("explore", pipeline.stage_overrides(cfg, overrides)["explore"][0])
    assert base[0] == ("explore", key)
    # no plan reads a reward model: nothing to run first
    assert _pending(["planner=best_of_n", "scorer=oracle"], tmp_path) == []
    assert _pending(["pipeline.plans=[['scorer=oracle'],['planner=sampling']]"], tmp_path) == []
    assert _pending(["pipeline.plans=[['scorer=oracle'],['scorer=rm']]"], tmp_path) == base


def test_goals_head_the_chain_and_name_what_explores_them(tmp_path):
    webshop = ["benchmark=webshop", "pipeline.goals=true", "scorer=rm"]
    chain = _pending(webshop, tmp_path)
    assert [stage for stage, _ in chain] == ["goals", "explore", "synthesize", "train"]
    other = _pending([*webshop, "goals.num_products=5"], tmp_path)  # other goals: all differ
    assert all(a != b for a, b in zip(other, chain, strict=True))


def test_a_complete_stage_in_the_cache_is_not_pending(tmp_path):
    """A re-launched sweep whose explore finished runs it in no wave; synthesize is then named
    by its own key (its input exists)."""
    from arm_exp.stages import explore
    from tests.conftest import run_stage

    small = ["experiment=demo_game24", "limit=2", "explore.num_per_task=1", "scorer=rm"]
    before = _pending(small, tmp_path)
    stage, key = before[0]
    overrides = [*small, f"pipeline.cache_dir={tmp_path}"]
    cfg = compose("pipeline", overrides, TMP, set_hydra_config=False)
    run_stage(explore, "explore", pipeline.stage_overrides(cfg, overrides)["explore"][0],
              tmp_path / stage / key)  # fmt: skip
    after = _pending(small, tmp_path)
    assert [s for s, _ in after] == ["synthesize", "train"]
    subs = pipeline.SubStages(tmp_path, [], None)
    synth = [*pipeline.stage_overrides(cfg, overrides)["synthesize"][0],
             f"input_dir={tmp_path / stage / key}"]  # fmt: skip
    assert after[0] == ("synthesize", subs.keyed("synthesize", synth)[0]) != before[1]


def test_waves_run_each_shared_stage_once_before_the_jobs():
    one = [("explore", "e"), ("synthesize", "s"), ("train", "t")]
    # 8 jobs on one reward model (and 8 without one): one job runs it all
    assert upstream_waves([one] * 8 + [[]] * 8) == [[(0, "train")]]
    # a loss sweep: explore and synthesize once, then each loss's train at once
    hinge = [*one[:2], ("train", "t2")]
    assert upstream_waves([one, hinge, one, hinge]) == [
        [(0, "synthesize")],
        [(0, "train"), (1, "train")],
    ]
    # two benchmarks: nothing shared, both chains in the first wave
    other = [("explore", "e2"), ("synthesize", "s2"), ("train", "t3")]
    assert upstream_waves([[], other, one]) == [[(1, "train"), (2, "train")]]
    # explore cached for some: a chain may start lower
    assert upstream_waves([one[1:], one[1:]]) == [[(0, "train")]]
    assert upstream_waves([[], []]) == []


def test_the_stage_lock_measures_the_wait_for_its_holder(tmp_path):
    lock = tmp_path / ".k.lock"
    with pipeline.stage_lock(lock, None, "explore") as waited:
        assert waited == 0.0  # free: no wait
    held, waits = threading.Event(), []

    def holder() -> None:
        with pipeline.stage_lock(lock, None, "explore"):
            held.set()
            release.wait()

    release = threading.Event()
    thread = threading.Thread(target=holder)
    thread.start()
    held.wait()

    def waiter() -> None:
        with pipeline.stage_lock(lock, None, "explore") as waited:
            waits.append(waited)

    other = threading.Thread(target=waiter)
    other.start()
    while not (lock.with_name(lock.name + ".holder")).exists():
        pass
    threading.Timer(0.2, release.set).start()
    other.join()
    thread.join()
    assert len(waits) == 1 and waits[0] > 0.0  # it waited for the holder's release
