"""Bodies of the business-hours routes (docs/reachability.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from frontdesk.api.schemas.common import Request, Response

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Interval = Annotated[str, StringConstraints(min_length=11, max_length=11)]
Intervals = Annotated[list[Interval], Field(max_length=12)]
DateText = Annotated[str, StringConstraints(min_length=10, max_length=10)]


class HoursIn(Request):
    """``weekly``: a day's openings as ``HH:MM-HH:MM`` (a day left out is closed);
    ``exceptions``: a date's own openings (``[]``: closed that day)."""

    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    weekly: dict[Weekday, Intervals]
    exceptions: Annotated[dict[DateText, Intervals], Field(max_length=400)] = {}


class HoursOut(Response):
    time_zone: str
    weekly: dict[str, list[str]]
    exceptions: dict[str, list[str]]


class HoursAnswer(Response):
    """``hours``: null when the team is always open; ``open`` and ``back_at``: as of now."""

    hours: HoursOut | None
    open: bool
    back_at: datetime | None
