"""frontdesk.health and ``frontdesk doctor`` in-process: what each check says when the
database answers, when it does not, when its schema is behind, and when Redis is away."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from frontdesk.cli import main
from frontdesk.health import readiness, smtp_note
from frontdesk.mail.transport import SendOutcome
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import SCHEMA_HEAD, upgrade

NOWHERE_POSTGRES = "postgresql://postgres@127.0.0.1:1/nothing"
NOWHERE_REDIS = "redis://127.0.0.1:1/0"


def test_a_database_at_this_versions_schema_is_ready(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ready.sqlite3'}"
    database = Database(url)
    upgrade(database)
    found = asyncio.run(
        readiness(Settings(database_url=url), database, smtp_last=None, sending=True)
    )
    database.dispose()
    assert found.ready
    assert found.as_json() == {
        "status": "ready",
        "checks": {
            "database": {"ok": True, "detail": "answers"},
            "migrations": {"ok": True, "detail": f"at {SCHEMA_HEAD}"},
        },
        "smtp": "nothing sent yet",
    }


def test_a_database_behind_or_away_and_redis_away_are_not_ready(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    database = Database(url)
    behind = asyncio.run(
        readiness(
            Settings(database_url=url, redis_url=NOWHERE_REDIS),
            database,
            smtp_last=None,
            sending=False,
        )
    )
    database.dispose()
    assert not behind.ready
    assert behind.checks["migrations"].detail.startswith("at nothing, this version needs")
    assert behind.checks["redis"].ok is False
    assert behind.notes["smtp"].startswith("not sending here")

    away = Database(NOWHERE_POSTGRES)
    found = asyncio.run(
        readiness(Settings(database_url=NOWHERE_POSTGRES), away, smtp_last=None, sending=True)
    )
    away.dispose()
    assert found.checks["database"].detail == "unreachable (OperationalError)"
    assert found.as_json()["status"] == "not_ready"


@pytest.mark.parametrize(
    ("outcome", "said"),
    [
        (SendOutcome(accepted=True, code=250, text="ok"), "the last e-mail was accepted (250)"),
        (SendOutcome(accepted=False, code=451, text="busy"), "was not accepted (451)"),
        (SendOutcome(accepted=False, code=None, text="refused"), "not accepted (no answer)"),
    ],
)
def test_the_smtp_note_says_the_last_outcome(outcome: SendOutcome, said: str) -> None:
    assert said in smtp_note(outcome, sending=True)


def test_doctor_says_ready_or_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'doctor.sqlite3'}"
    database = Database(url)
    upgrade(database)
    database.dispose()
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    ready = CliRunner().invoke(main, ["doctor"])
    assert ready.exit_code == 0, ready.output
    assert "ok   migrations: at" in ready.output
    assert "smtp: the built-in catcher" in ready.output
    assert ready.output.rstrip().endswith("ready")

    monkeypatch.setenv("FRONTDESK_DATABASE_URL", NOWHERE_POSTGRES)
    away = CliRunner().invoke(main, ["doctor"])
    assert away.exit_code == 1
    assert "FAIL database: unreachable" in away.output
    assert away.output.rstrip().endswith("NOT READY")

    nobody = CliRunner().invoke(main, ["doctor", "--url", "http://127.0.0.1:1"])
    assert nobody.exit_code == 1
    assert "did not answer" in nobody.output
    wrong = CliRunner().invoke(main, ["doctor", "--url", "ftp://example.com"])
    assert wrong.exit_code == 2
