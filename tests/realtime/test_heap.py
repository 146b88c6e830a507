"""The heap keeper's policy (frontdesk.realtime.heap): freeze once a wave of sockets has
opened and passed; unfreeze and collect once, at a quiet moment, when half of those frozen
have closed. Fed with counts; the collector's own part is checked on the real collector."""

from __future__ import annotations

import gc
import weakref

from frontdesk.realtime.heap import HeapKeeper, collector_actions


def keeper() -> tuple[HeapKeeper, list[str]]:
    done: list[str] = []
    return HeapKeeper(
        freeze=lambda: done.append("freeze"), reclaim=lambda: done.append("reclaim")
    ), done


def test_a_wave_of_openings_is_frozen_once_it_has_passed() -> None:
    heap, done = keeper()
    for second in range(10):  # 1,000 sockets a second for ten seconds
        for _ in range(1000):
            heap.opened()
        assert heap.tick(open_sockets=1000 * (second + 1)) is None  # still coming
    assert done == []
    assert heap.tick(open_sockets=10_000) == "freeze"  # the first quiet second
    assert heap.frozen_sockets == 10_000
    assert heap.tick(open_sockets=10_000) is None  # nothing new: nothing to do
    assert done == ["freeze"]


def test_a_few_openings_do_not_freeze() -> None:
    heap, done = keeper()
    for _ in range(100):
        heap.opened()
        heap.tick(open_sockets=100)
    assert done == []


def test_half_the_frozen_sockets_closed_are_reclaimed_at_a_quiet_moment() -> None:
    heap, done = keeper()
    for _ in range(10_000):
        heap.opened()
    assert heap.tick(open_sockets=10_000) is None
    assert heap.tick(open_sockets=10_000) == "freeze"
    for _ in range(4_000):  # fewer than half: the garbage waits
        heap.closed()
    assert heap.tick(open_sockets=6_000) is None
    for _ in range(2_000):  # now half, but in a busy second
        heap.closed()
    assert heap.tick(open_sockets=4_000) is None
    assert heap.tick(open_sockets=4_000) == "reclaim"
    assert done == ["freeze", "reclaim"]
    assert heap.frozen_sockets == 4_000
    assert heap.closed_since_reclaim == 0


def frozen_then_half_closed(heap: HeapKeeper) -> None:
    for _ in range(10_000):
        heap.opened()
    heap.tick(open_sockets=10_000)
    assert heap.tick(open_sockets=10_000) == "freeze"
    for _ in range(5_000):
        heap.closed()
    assert heap.tick(open_sockets=5_000) is None  # the closing second itself is busy


def test_the_collection_waits_for_a_second_with_few_requests() -> None:
    heap, done = keeper()
    frozen_then_half_closed(heap)
    for _ in range(5):  # requests keep coming: the collection, a second long, waits
        for _ in range(heap.quiet_requests_below):
            heap.request()
        assert heap.tick(open_sockets=5_000) is None
    for _ in range(heap.quiet_requests_below - 1):
        heap.request()
    assert heap.tick(open_sockets=5_000) == "reclaim"
    assert done == ["freeze", "reclaim"]
    assert heap.reclaim_waited == 0


def test_a_server_never_quiet_collects_after_reclaim_wait_seconds() -> None:
    heap, done = keeper()
    heap.reclaim_wait = 10
    frozen_then_half_closed(heap)  # that busy second counts as waited
    outcomes = []
    for _ in range(12):
        for _ in range(100):
            heap.request()
        outcomes.append(heap.tick(open_sockets=5_000))
    assert outcomes == [None] * 9 + ["reclaim", None, None]
    assert done == ["freeze", "reclaim"]


def test_reclaiming_collects_what_died_while_frozen() -> None:
    freeze, reclaim = collector_actions()

    class Cycle:
        me: object

    try:
        cycle = Cycle()
        cycle.me = cycle
        alive = weakref.ref(cycle)
        freeze()
        del cycle  # garbage now, but frozen: no collection looks at it
        gc.collect()
        assert alive() is not None
        reclaim()
        assert alive() is None
    finally:
        gc.unfreeze()
