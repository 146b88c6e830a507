"""The one convention of every change a PATCH makes (docs/api.md): the route hands the
service the keys the client sent, as keyword arguments (``Patch.sent()``). A keyword left out
keeps its value, so its default is ``UNCHANGED``; ``None`` is a value ("back to the
default") only for a field that allows it, such as an account's ``offline_email_delay``."""

from __future__ import annotations

from enum import Enum
from typing import Final, TypeVar

T = TypeVar("T")


class Unchanged(Enum):
    """The type of ``UNCHANGED``: a keyword the client did not send."""

    UNCHANGED = "unchanged"

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged.UNCHANGED


def or_none(value: T | Unchanged) -> T | None:
    """The value given, or ``None`` when the keyword was left out: for the rules in
    ``frontdesk.core`` that read "no change" as ``None``."""
    return None if value is UNCHANGED else value
