"""Alembic environment: migrations always run on a connection handed in by
``frontdesk.store.migrate``, never on a URL from an ini file."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from frontdesk.store.models import Base
from frontdesk.store.types import StrEnumType, UTCDateTime

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `frontdesk db upgrade`, not the alembic command")


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write our column types as the plain SQL types they store, so that a migration never
    depends on application code that may change after it was written."""
    if kind == "type" and isinstance(item, StrEnumType):
        return "sa.String(length=32)"
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    render_item=_render_item,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
