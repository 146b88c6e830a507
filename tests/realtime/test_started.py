"""``started``: a socket's send run at once up to where it first has to wait, and finished by
whoever awaits what it returns, as a task would have run it (frontdesk.api.routes.sockets).
On the real event loop, with futures standing in for a client's full buffers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any

import pytest

from frontdesk.api.routes.sockets import started


def test_a_send_that_need_not_wait_is_done_at_once() -> None:
    done: list[str] = []

    async def send() -> None:
        done.append("sent")

    async def main() -> None:
        assert started(send()) is None
        assert done == ["sent"]  # before anything else ran

    asyncio.run(main())


def test_a_send_that_waits_is_finished_by_the_task_that_awaits_it() -> None:
    steps: list[object] = []

    async def main() -> None:
        room: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def send() -> None:
            steps.append("framed")
            steps.append(await room)
            await asyncio.sleep(0)  # waits again, on nothing
            steps.append("written")

        task = await _finishing(send())
        assert steps == ["framed"]
        assert not task.done()
        room.set_result("room")
        await task
        assert steps == ["framed", "room", "written"]

    asyncio.run(main())


def test_what_it_waited_on_failing_goes_into_the_send() -> None:
    caught: list[str] = []

    async def main() -> None:
        room: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def send() -> None:
            try:
                await room
            except ConnectionResetError as error:
                caught.append(str(error))
                raise

        task = await _finishing(send())
        room.set_exception(ConnectionResetError("gone"))
        with pytest.raises(ConnectionResetError):
            await task

    asyncio.run(main())
    assert caught == ["gone"]


def test_cancelling_the_task_cancels_the_send_where_it_waits() -> None:
    ended: list[str] = []

    async def main() -> None:
        room: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def send() -> None:
            try:
                await room
            finally:
                ended.append("cleaned up")

        task = await _finishing(send())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert room.cancelled()

    asyncio.run(main())
    assert ended == ["cleaned up"]


async def _finishing(send: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """``send`` started, found waiting, and a task finishing it that has had its first turn."""
    waiting = started(send)
    assert waiting is not None
    task = asyncio.create_task(_awaited(waiting))
    await asyncio.sleep(0)
    return task


async def _awaited(waiting: Awaitable[None]) -> None:
    await waiting
