"""Bodies of ``routes/reachability.py``: the "can I be reached?" checklist of an agent, and
of the team (docs/reachability.md)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from frontdesk.api.schemas.common import Response
from frontdesk.core.model import Role
from frontdesk.core.reachability import ItemKey, Problem


class ReachabilityItemOut(Response):
    key: ItemKey
    ok: bool | None = Field(
        description="true: fine; false: this is why a notification may not reach the agent "
        "(``problem`` says what to do); null: for information, or nothing to judge yet."
    )
    problem: Problem | None = Field(description="Set when ``ok`` is false.")
    facts: dict[str, Any] = Field(
        description="What the item is about; the fields of each key are in docs/reachability.md."
    )


class AgentReachabilityOut(Response):
    agent_id: int
    name: str
    email: str
    role: Role
    ok: bool = Field(description="No item is false.")
    items: list[ReachabilityItemOut]


class TeamReachabilityOut(Response):
    agents: list[AgentReachabilityOut]
