"""Whether this process can do its work: what ``/readyz`` answers a proxy or an
orchestrator, and ``frontdesk doctor`` prints for a person (docs/deployment.md).

Ready means: the database answers, its schema is the one this version expects, and Redis
answers where it is configured. The SMTP transport's last outcome is reported beside them
but does not make a process unready: a mail server that refuses for a while delays
e-mails (they are retried), and taking the process out of the proxy would not help it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from frontdesk.mail.transport import SendOutcome
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import SCHEMA_HEAD, schema_revision

# Each check may take this long before it counts as failed.
CHECK_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str


@dataclass(slots=True)
class Readiness:
    checks: dict[str, Check] = field(default_factory=dict)
    # Reported, never a reason to be unready.
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not_ready",
            "checks": {
                name: {"ok": check.ok, "detail": check.detail}
                for name, check in self.checks.items()
            },
            **self.notes,
        }


def database_check(database: Database) -> tuple[Check, Check]:
    """The database answering, and its schema (blocking: call it from a thread)."""
    try:
        revision = schema_revision(database)
    except Exception as error:  # unreachable, refused, timed out: said by its kind only
        failed = Check(False, f"unreachable ({type(error).__name__})")
        return failed, Check(False, "unknown: the database does not answer")
    if revision == SCHEMA_HEAD:
        return Check(True, "answers"), Check(True, f"at {revision}")
    return Check(True, "answers"), Check(
        False,
        f"at {revision or 'nothing'}, this version needs {SCHEMA_HEAD}: run `frontdesk db upgrade`",
    )


async def redis_check(url: str) -> Check:
    import redis.asyncio as aioredis  # only where Redis is configured

    client = aioredis.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await client.ping()
    except Exception as error:
        return Check(False, f"unreachable ({type(error).__name__})")
    finally:
        await client.aclose()
    return Check(True, "answers")


def smtp_note(outcome: SendOutcome | None, *, sending: bool) -> str:
    if not sending:
        return "not sending here (FRONTDESK_RUN_WORKER=false: the workers send)"
    if outcome is None:
        return "nothing sent yet"
    if outcome.accepted:
        return f"the last e-mail was accepted ({outcome.code})"
    return f"the last e-mail was not accepted ({outcome.code or 'no answer'})"


async def readiness(
    settings: Settings,
    database: Database,
    *,
    smtp_last: SendOutcome | None,
    sending: bool,
) -> Readiness:
    found = Readiness()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            db, schema = await anyio.to_thread.run_sync(database_check, database)
    except TimeoutError:
        db = Check(False, f"no answer within {CHECK_TIMEOUT:g} s")
        schema = Check(False, "unknown: the database does not answer")
    found.checks["database"] = db
    found.checks["migrations"] = schema
    if settings.redis_url:
        found.checks["redis"] = await redis_check(settings.redis_url)
    found.notes["smtp"] = smtp_note(smtp_last, sending=sending)
    return found
