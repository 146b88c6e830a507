"""The proven visitor tokens a process remembers: bounded, and what is in use stays."""

from __future__ import annotations

from frontdesk.service.runtime import VisitorCaller, VisitorCallers


def caller(n: int) -> VisitorCaller:
    return VisitorCaller(visitor_id=n, account_id=1)


def test_a_remembered_token_is_found_and_an_unknown_one_is_not() -> None:
    callers = VisitorCallers(generation=4)
    callers.remember("key", "a", caller(1))
    assert callers.get("key", "a") == caller(1)
    assert callers.get("key", "b") is None
    assert callers.get("other-key", "a") is None


def test_at_most_two_generations_are_kept_and_the_oldest_go_first() -> None:
    callers = VisitorCallers(generation=4)
    for n in range(20):
        callers.remember("key", f"t{n}", caller(n))
        assert len(callers) <= 8
    assert callers.get("key", "t0") is None
    assert callers.get("key", "t19") == caller(19)


def test_a_token_in_use_survives_generations_of_others() -> None:
    callers = VisitorCallers(generation=4)
    callers.remember("key", "busy", caller(0))
    for n in range(1, 40):
        callers.remember("key", f"t{n}", caller(n))
        if n % 3 == 0:  # the busy visitor writes every few newcomers
            assert callers.get("key", "busy") == caller(0)
    assert callers.get("key", "busy") == caller(0)
