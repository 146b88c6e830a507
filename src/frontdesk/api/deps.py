"""FastAPI dependencies: the runtime, and who is calling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Path, Request

from frontdesk.api.schemas.common import WIDGET_KEY_PATTERN
from frontdesk.errors import NotAuthenticated, TooManyRequests
from frontdesk.service.accounts import authenticate_agent, known_agent
from frontdesk.service.runtime import AgentCaller, Runtime, VisitorCaller
from frontdesk.service.widget import authenticate_visitor, known_visitor

T = TypeVar("T")

# The dependencies are coroutines: FastAPI runs a plain function on a thread of the pool,
# one hop per dependency per request (docs/performance.md).


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated(
            "Send the token as 'Authorization: Bearer <token>'.", code="not_authenticated"
        )
    if len(token) > 200:
        raise NotAuthenticated("The bearer token is malformed.", code="invalid_token")
    return token


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
TokenDep = Annotated[str, Depends(bearer_token)]


async def current_agent(rt: RuntimeDep, token: TokenDep) -> AgentCaller:
    known = known_agent(rt, token)
    if known is not None:
        return known
    return await anyio.to_thread.run_sync(authenticate_agent, rt, token)


async def current_visitor(
    rt: RuntimeDep, token: TokenDep, widget_key: Annotated[str, Path(pattern=WIDGET_KEY_PATTERN)]
) -> VisitorCaller:
    known = known_visitor(rt, widget_key, token)
    if known is not None:
        return known
    return await anyio.to_thread.run_sync(authenticate_visitor, rt, widget_key, token)


AgentDep = Annotated[AgentCaller, Depends(current_agent)]
VisitorDep = Annotated[VisitorCaller, Depends(current_visitor)]


class PasswordChecks:
    """Where the operations that hash or check a password run (a sign-up, a login, a new
    password): at most ``at_once`` of them, each on a thread of its own, while the others
    wait for a turn in the event loop, not on a thread of the pool that every other route
    shares; beyond ``waiting`` of those, a request is refused at once with 429. A flood of
    wrong passwords thus costs the server ``at_once`` cores at most, and no other request
    waits for a thread or a transaction behind it."""

    def __init__(self, *, at_once: int, waiting: int) -> None:
        self._limiter = anyio.CapacityLimiter(at_once)
        self._waiting = waiting

    async def run(self, operation: Callable[[], T]) -> T:
        if self._limiter.statistics().tasks_waiting >= self._waiting:
            raise TooManyRequests(
                "The server is checking too many passwords at once; try again in a moment.",
                retry_after=1,
                code="busy_checking_passwords",
            )
        return await anyio.to_thread.run_sync(operation, limiter=self._limiter)


async def get_password_checks(request: Request) -> PasswordChecks:
    checks: PasswordChecks = request.app.state.password_checks
    return checks


PasswordChecksDep = Annotated[PasswordChecks, Depends(get_password_checks)]
