"""Running the Alembic migrations: on every start of ``frontdesk serve`` and with
``frontdesk db upgrade``.

On PostgreSQL several processes may start at once; a transaction-scoped advisory lock makes
them take turns, so exactly one applies each migration and the others find it done.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from frontdesk.store.database import Database

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# An arbitrary constant that names "Frontdesk schema migration" among advisory locks.
_MIGRATION_LOCK_KEY = 0x46_44_4D_49_47  # "FDMIG"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    config = alembic_config()
    with database.write_connection().begin() as connection:
        if database.is_postgresql:
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
