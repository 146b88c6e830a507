"""The push sender reads the installation's VAPID key (or makes it, the first time) on a
pool thread: the worker's event loop and a request's test push never wait for the
database. Before, both read it on the loop, and the first push of a process blocked the
loop for as long as the database took to answer."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, select

from frontdesk.push.webpush import VapidKey
from frontdesk.service import push, secrets
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.models import InstallationSecret


def test_the_push_sender_reads_its_key_off_the_event_loop(
    runtime: Runtime, database_url: str
) -> None:
    # A database object of its own, which the process's cache of secrets does not know
    # (the session's database is shared: its key stays as the other tests made it).
    database = Database(Settings(database_url=database_url).effective_database_url)
    secrets._cache.pop((id(database), push.VAPID_KEY), None)
    rt = Runtime(
        settings=runtime.settings,
        database=database,
        clock=runtime.clock,
        passwords=runtime.passwords,
    )
    checkouts: list[bool] = []

    @event.listens_for(database.engine, "checkout")
    def taken(*_: object) -> None:
        checkouts.append(asyncio._get_running_loop() is not None)

    async def open_sender() -> str:
        async with push.push_sender(rt) as sender:
            return sender.key.public_key

    try:
        public_key = asyncio.run(open_sender())
    finally:
        database.dispose()
        secrets._cache.pop((id(database), push.VAPID_KEY), None)
    with runtime.database.read() as session:
        stored = session.scalar(
            select(InstallationSecret.value).where(InstallationSecret.name == push.VAPID_KEY)
        )
    assert stored is not None
    assert public_key == VapidKey(bytes.fromhex(stored)).public_key
    # Read from the database (and made, if no test made it before): none on the loop.
    assert checkouts, "the key was not read from the database"
    assert not any(checkouts), "a connection was taken on the event loop's thread"
