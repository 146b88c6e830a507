"""Running the Alembic migrations: on every start of ``frontdesk serve`` and with
``frontdesk db upgrade``.

On PostgreSQL several processes may start at once; a transaction-scoped advisory lock makes
them take turns, so exactly one applies each migration and the others find it done.

A start that finds the database at ``SCHEMA_HEAD`` does not load Alembic at all: Alembic
and Mako are ~11 MB that a server would otherwise hold for its whole life to learn that
there was nothing to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from frontdesk.store.database import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest migration's revision; tests/store/test_database.py holds it to Alembic's head.
SCHEMA_HEAD = "0018"
# An arbitrary constant that names "Frontdesk schema migration" among advisory locks.
_MIGRATION_LOCK_KEY = 0x46_44_4D_49_47  # "FDMIG"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    if revision == "head" and schema_revision(database) == SCHEMA_HEAD:
        return
    from alembic import command

    config = alembic_config()
    with database.write_connection().begin() as connection:
        if database.is_postgresql:
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def schema_revision(database: Database) -> str | None:
    """The revision the database is at, read without Alembic (``None``: none yet)."""
    with database.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    # Alembic keeps one row per branch head; this project has one branch.
    return versions[0][0] if len(versions) == 1 else None


def current_revision(database: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
