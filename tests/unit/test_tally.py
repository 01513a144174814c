"""Per-task tallies: charges reach the scopes open in the calling thread, and only those."""

from __future__ import annotations

import threading

from arm_exp import tally


def test_charges_reach_every_open_scope_of_the_calling_context_only():
    tally.charge(llm_calls=1)  # no scope: nothing to do, no error
    with tally.scope() as outer:
        tally.charge(llm_calls=1, completion_tokens=5)
        with tally.scope() as inner:
            tally.charge(llm_calls=2)
            assert tally.innermost() is inner
        assert tally.innermost() is outer
    assert tally.innermost() is None
    assert outer.counts() == {"llm_calls": 3.0, "completion_tokens": 5.0}
    assert inner.counts() == {"llm_calls": 2.0}


def test_threads_running_at_once_keep_their_own_counts():
    results: dict[int, dict[str, float]] = {}
    barrier = threading.Barrier(8)

    def task(k: int) -> None:
        with tally.scope() as t:
            barrier.wait()  # all eight scopes are open at the same time
            for _ in range(100 * (k + 1)):
                tally.charge(rm_items=1)
            t.memo("scorer").add(k)
            results[k] = {**t.counts(), "memo": float(len(t.memo("scorer")))}

    threads = [threading.Thread(target=task, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == {k: {"rm_items": 100.0 * (k + 1), "memo": 1.0} for k in range(8)}
