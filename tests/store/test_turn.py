"""The turn to write to SQLite inside a process: one holder, threads served in the order they
asked, the group commit never before a thread that waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from frontdesk.store.turn import WriteTurn


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.001)


def asking(turn: WriteTurn, name: str, order: list[str]) -> threading.Thread:
    """A thread that takes the turn, notes its name and gives the turn back; started once
    the threads before it are waiting, and returned once it waits too."""
    waiting = turn.waiting

    def run() -> None:
        assert turn.take(timeout=10)
        order.append(name)
        turn.give_back()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    until(lambda: turn.waiting == waiting + 1)
    return thread


def test_threads_take_the_turn_in_the_order_they_asked() -> None:
    turn = WriteTurn()
    assert turn.take(timeout=1)
    order: list[str] = []
    threads = [asking(turn, name, order) for name in ("sweep", "engine", "request")]
    turn.give_back()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["sweep", "engine", "request"]
    assert turn.try_take()


def test_a_thread_asking_again_at_once_goes_after_those_waiting() -> None:
    """The engine deciding one batch after another: it gives the turn back and asks again
    at once, and the sweep that waited meanwhile writes first."""
    turn = WriteTurn()
    assert turn.take(timeout=1)
    order: list[str] = []
    sweep = asking(turn, "sweep", order)
    turn.give_back()
    assert turn.take(timeout=10)
    order.append("engine again")
    turn.give_back()
    sweep.join(timeout=10)
    assert order == ["sweep", "engine again"]


def test_the_group_commit_never_goes_before_a_waiting_thread() -> None:
    turn = WriteTurn()
    assert turn.try_take()
    assert not turn.try_take()
    order: list[str] = []
    sweep = asking(turn, "sweep", order)
    turn.give_back()
    sweep.join(timeout=10)
    assert order == ["sweep"]
    # Free again, and nobody waits: the group commit takes it.
    assert turn.try_take()
    turn.give_back()


def test_a_wait_that_runs_out_leaves_the_turn_to_the_others() -> None:
    turn = WriteTurn()
    assert turn.take(timeout=1)
    started = time.monotonic()
    assert not turn.take(timeout=0.05)
    assert time.monotonic() - started >= 0.05
    assert turn.waiting == 0
    turn.give_back()
    assert turn.try_take()


def test_one_holder_at_a_time_under_contention() -> None:
    """Threads with short waits, some of which run out as the turn is handed to them: one
    holder at a time throughout, and the turn free at the end."""
    turn = WriteTurn()
    holders = 0
    most = 0
    taken = 0
    count_lock = threading.Lock()

    def work() -> None:
        nonlocal holders, most, taken
        for _ in range(300):
            if not turn.take(timeout=0.0005):
                continue
            with count_lock:
                holders += 1
                most = max(most, holders)
                taken += 1
            time.sleep(0)
            with count_lock:
                holders -= 1
            turn.give_back()

    workers = [threading.Thread(target=work) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert most == 1
    assert taken > 0
    assert turn.waiting == 0
    assert turn.try_take()
