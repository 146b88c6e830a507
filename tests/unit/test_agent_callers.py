"""The proven agent tokens a process remembers: forgotten when the agent's access changes,
never remembered from a look-up that a change overtook, nothing while not trusted."""

from __future__ import annotations

from frontdesk.core.model import Role
from frontdesk.service.runtime import AgentCaller, AgentCallers


def caller(agent_id: int, token_id: int = 1, role: Role = Role.AGENT) -> AgentCaller:
    return AgentCaller(agent_id=agent_id, account_id=1, role=role, token_id=token_id)


def trusted(**options: int) -> AgentCallers:
    callers = AgentCallers(**options)
    callers.forget_all(trusted=True)
    return callers


def test_a_change_forgets_that_agent_s_tokens_and_no_other_s() -> None:
    callers = trusted()
    callers.remember("a1", caller(1), seen=callers.version)
    callers.remember("a2", caller(1, token_id=2), seen=callers.version)
    callers.remember("b1", caller(2), seen=callers.version)
    callers.forget_agent(1)
    assert (callers.get("a1"), callers.get("a2")) == (None, None)
    assert callers.get("b1") == caller(2)


def test_a_look_up_that_a_change_overtook_is_not_remembered() -> None:
    callers = trusted()
    seen = callers.version  # the look-up begins …
    callers.forget_agent(1)  # … the agent is demoted meanwhile …
    callers.remember("a1", caller(1, role=Role.ADMIN), seen=seen)  # … and ends, stale
    assert callers.get("a1") is None
    callers.remember("a1", caller(1), seen=callers.version)
    assert callers.get("a1") == caller(1)


def test_nothing_is_remembered_or_found_while_not_trusted() -> None:
    callers = AgentCallers()
    callers.remember("a1", caller(1), seen=callers.version)
    assert callers.get("a1") is None
    callers.forget_all(trusted=True)
    callers.remember("a1", caller(1), seen=callers.version)
    assert callers.get("a1") == caller(1)
    callers.forget_all(trusted=False)  # the channel was lost
    assert callers.get("a1") is None
    assert len(callers) == 0


def test_the_count_is_bounded() -> None:
    callers = trusted(max_entries=3)
    for n in range(10):
        callers.remember(f"t{n}", caller(n), seen=callers.version)
        assert len(callers) <= 3
    assert callers.get("t9") == caller(9)
