"""Bodies of ``routes/groups.py``: PRO groups, named sets of agents a conversation may
belong to."""

from __future__ import annotations

from pydantic import Field

from frontdesk.api.schemas.common import Id, Name, Patch, Request, Response


class GroupIn(Request):
    name: Name
    agent_ids: list[Id] = Field(default_factory=list, max_length=1000)


class GroupPatch(Patch):
    name: Name | None = None
    agent_ids: list[Id] | None = Field(default=None, max_length=1000)


class GroupOut(Response):
    id: int
    name: str
    agent_ids: list[int]
