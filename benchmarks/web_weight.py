"""Benchmark (not a test): what the web UI weighs on the wire, as a browser asking for
compression receives it from the app, against the files' own size measured in the same run.
Run: ``.venv/bin/python benchmarks/web_weight.py``.

The widget is the figure that matters: every page view of every customer's website loads
it. The dashboard is loaded by agents, once per working session.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from frontdesk.api.app import create_app
from frontdesk.clock import SystemClock
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade
from frontdesk.web.routes import DASHBOARD_FILES, STATIC

WIDGET = ["/widget.js"]
# The page, every module and style sheet of its folder (a browser loads them all), and the
# English texts.
DASHBOARD = [
    "/app",
    *(
        f"{DASHBOARD_FILES}/{file.name}"
        for file in sorted((STATIC / "dashboard").iterdir())
        if file.suffix in (".js", ".css")
    ),
    "/static/locales/en.json",
]


def weigh(client: TestClient, paths: list[str]) -> tuple[int, int]:
    """(bytes of the files, bytes on the wire with ``Accept-Encoding: gzip``)."""
    plain = wire = 0
    for path in paths:
        whole = client.get(path, headers={"Accept-Encoding": "identity"})
        assert whole.status_code == 200, path
        plain += len(whole.content)
        # The raw bytes, before the client decodes them: what the server sent.
        with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as compressed:
            wire += sum(len(chunk) for chunk in compressed.iter_raw())
    return plain, wire


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), password_hashing="fast")
        database = Database(settings.effective_database_url)
        upgrade(database)
        runtime = Runtime(
            settings=settings,
            database=database,
            clock=SystemClock(),
            passwords=PasswordHasher("fast"),
        )
        client = TestClient(create_app(runtime))
        print(f"{'what':<34}{'files':>10}{'on the wire':>14}{'ratio':>8}")
        for what, paths in [
            ("widget (/widget.js)", WIDGET),
            ("dashboard (page, JS, CSS, texts)", DASHBOARD),
        ]:
            plain, wire = weigh(client, paths)
            print(f"{what:<34}{plain:>10,}{wire:>14,}{wire / plain:>8.0%}")
        database.dispose()


if __name__ == "__main__":
    main()
