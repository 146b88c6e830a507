"""What runs once a write transaction has committed: the callbacks ``Database.after_commit``
registers (kept in the session's ``info`` under ``AFTER_COMMIT``), and the channels
``Database.notify`` has already notified in it (``NOTIFIED``). A rollback forgets both."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("frontdesk.store")
AFTER_COMMIT = "frontdesk_after_commit"
NOTIFIED = "frontdesk_notified"


def run_after_commit(session: Session) -> None:
    session.info.pop(NOTIFIED, None)
    for callback in session.info.pop(AFTER_COMMIT, []):
        try:
            callback()
        except Exception:  # the commit stands; a failed callback must not undo that
            log.exception("an after-commit callback failed")


def forget_after_commit(session: Session, _previous_transaction: Any) -> None:
    session.info.pop(AFTER_COMMIT, None)
    session.info.pop(NOTIFIED, None)


def keep_after_commit(target: Any) -> None:
    """Make the sessions of ``target`` (a sessionmaker or a Session class) run their
    after-commit callbacks once they commit, and forget them and their notifications on a
    rollback."""
    event.listen(target, "after_commit", run_after_commit)
    event.listen(target, "after_soft_rollback", forget_after_commit)
