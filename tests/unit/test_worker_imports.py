"""What a ``frontdesk worker`` holds in memory is what it imports: it keeps the schedule,
as Celery's worker does, and issue 11 measures the two against each other
(docs/performance.md). The HTTP side, the built-in mail catcher, the migrations' library,
the rate limits' library, ``cryptography`` (9 MB of a worker, needed only for a push or
a DKIM signature), the password hasher (a worker checks no password) and the CSS inliner
(the e-mail template is inlined ahead, by tools/inline_css.py) and SQLAlchemy's asyncio
extension (the serve's sweep on PostgreSQL) stay out of a worker that starts on the
default settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOT_IN_A_WORKER = (
    "fastapi",
    "starlette",
    "uvicorn",
    "aiosmtpd",
    "alembic",
    "limits",
    "cryptography",
    "argon2",
    "css_inline",
    "sqlalchemy.ext.asyncio",  # and greenlet: the serve's sweep on PostgreSQL alone
    "greenlet",
)

STARTS_A_WORKER = """
import json, sys
from frontdesk.cli import _run_worker  # what `frontdesk worker` imports
from frontdesk.engine.mailer import Mailer
from frontdesk.engine.worker import NotificationWorker
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.migrate import upgrade

settings = Settings(smtp_url="smtp://127.0.0.1:2525", password_hashing="standard")
runtime = Runtime.create(settings)
upgrade(runtime.database)
NotificationWorker(runtime, Mailer(settings))
print(json.dumps(sorted(sys.modules)))
"""


def _worker_modules(tmp_path: Path, database_url: str | None = None) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_DATA_DIR": str(tmp_path),
        "FRONTDESK_DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'worker.sqlite3'}",
    }
    # The first start migrates the new database (with alembic); the second is a worker's
    # everyday start, on a schema already at its head.
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", STARTS_A_WORKER],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    loaded: list[str] = json.loads(out)
    return set(loaded)


def test_a_worker_imports_neither_the_http_side_nor_what_only_a_push_needs(
    tmp_path: Path,
) -> None:
    loaded = _worker_modules(tmp_path)
    tops = {name.split(".")[0] for name in loaded}
    held = sorted(name for name in NOT_IN_A_WORKER if name in tops or name in loaded)
    assert held == [], f"a worker imports {held}"
    # What it needs is there: the measure is not of an empty process.
    assert {"sqlalchemy", "jinja2", "aiosmtplib", "frontdesk"} <= tops


@pytest.mark.postgres
def test_a_worker_on_postgresql_maps_no_sqlite(tmp_path: Path, postgres_url: str) -> None:
    loaded = _worker_modules(tmp_path, postgres_url)
    assert "psycopg" in loaded
    assert not {"sqlite3", "_sqlite3"} & loaded, "SQLite's library, 0.7 MB, for nothing"
    # The serve's sweep runs on the event loop through it; a worker sweeps nothing.
    assert not {"sqlalchemy.ext.asyncio", "greenlet"} & loaded, "1.9 MB for nothing"
