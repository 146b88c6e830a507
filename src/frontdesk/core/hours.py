"""Business hours (docs/reachability.md): when a team answers chats, as weekly hours in a
time zone plus dated exceptions (a holiday closed all day, a shorter Christmas Eve).

Hours are local: "Monday 09:00-17:00 in Europe/Prague" is 08:00-16:00 UTC in winter and
07:00-15:00 in summer, so every question is asked in the zone's own calendar — the moment
is turned into its local date and time, never the hours into UTC once. A day's openings
are intervals within that day, ``end`` after ``start`` (``24:00`` is the day's end); an
opening across midnight is written as two, one each day. Pure: the caller passes the
moment in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_MINUTES = 24 * 60
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# How far ahead "when are you back?" looks: two weeks covers a closed week and a holiday.
LOOK_AHEAD_DAYS = 14
_INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class HoursError(ValueError):
    """Hours that cannot be: the message says what and where."""


@dataclass(frozen=True, slots=True)
class Opening:
    """From ``start`` to ``end`` minutes after local midnight (``end`` up to 1440)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= DAY_MINUTES:
            raise HoursError(f"an opening must end after it starts, within the day: {self}")

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


@dataclass(frozen=True, slots=True)
class BusinessHours:
    time_zone: str
    # Monday first; a day without openings is closed.
    weekly: tuple[tuple[Opening, ...], ...]
    # A date's own openings instead of its weekday's (none: closed that day).
    exceptions: Mapping[date, tuple[Opening, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        zone_of(self.time_zone)
        if len(self.weekly) != len(WEEKDAYS):
            raise HoursError("weekly hours need all seven days, Monday first")
        for openings in (*self.weekly, *self.exceptions.values()):
            _require_apart(openings)

    def openings_on(self, day: date) -> tuple[Opening, ...]:
        if day in self.exceptions:
            return self.exceptions[day]
        return self.weekly[day.weekday()]


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(f"{name!r} is not an IANA time zone (Europe/Prague, say)") from None


def is_open(hours: BusinessHours, at: datetime) -> bool:
    """Whether ``at`` (aware) falls in an opening of its local day."""
    local = at.astimezone(zone_of(hours.time_zone))
    minute = local.hour * 60 + local.minute
    return any(o.start <= minute < o.end for o in hours.openings_on(local.date()))


def next_opening(hours: BusinessHours, at: datetime) -> datetime | None:
    """The first moment after ``at`` (aware) when the team is open, in UTC; ``at`` itself
    when open now; ``None`` when no opening comes within ``LOOK_AHEAD_DAYS``."""
    if is_open(hours, at):
        return at.astimezone(UTC)
    zone = zone_of(hours.time_zone)
    local = at.astimezone(zone)
    for ahead in range(LOOK_AHEAD_DAYS + 1):
        day = local.date() + timedelta(days=ahead)
        for opening in sorted(hours.openings_on(day), key=lambda o: o.start):
            starts = _local_moment(day, opening.start, zone)
            ends = _local_moment(day, opening.end, zone)
            if starts > at:
                return starts.astimezone(UTC)
            if ends > at:  # a start the clocks skipped (spring forward) but open by now
                return at.astimezone(UTC)
    return None


def next_change(hours: BusinessHours, at: datetime) -> datetime | None:
    """The next moment after ``at`` (aware) when the team may open or close, in UTC: the
    end of the opening it is in, else the next opening; ``None`` when closed for longer
    than ``LOOK_AHEAD_DAYS``. (An opening ending at midnight followed by one from midnight
    is no change; asking again at that moment says so.)"""
    if not is_open(hours, at):
        return next_opening(hours, at)
    zone = zone_of(hours.time_zone)
    local = at.astimezone(zone)
    minute = local.hour * 60 + local.minute
    current = next(o for o in hours.openings_on(local.date()) if o.start <= minute < o.end)
    return _local_moment(local.date(), current.end, zone).astimezone(UTC)


def opened_at(hours: BusinessHours, at: datetime) -> datetime | None:
    """When the opening ``at`` (aware) falls in began, in UTC; ``None`` when closed."""
    if not is_open(hours, at):
        return None
    zone = zone_of(hours.time_zone)
    local = at.astimezone(zone)
    minute = local.hour * 60 + local.minute
    current = next(o for o in hours.openings_on(local.date()) if o.start <= minute < o.end)
    return _local_moment(local.date(), current.start, zone).astimezone(UTC)


def parse_hours(
    time_zone: str,
    weekly: Mapping[str, Sequence[str]],
    exceptions: Mapping[str, Sequence[str]] | None = None,
) -> BusinessHours:
    """Hours as the API takes them: ``{"monday": ["09:00-12:00", "13:00-17:00"], …}`` (a
    day left out is closed) and ``{"2026-12-24": ["09:00-12:00"], "2026-12-25": []}``."""
    unknown = set(weekly) - set(WEEKDAYS)
    if unknown:
        raise HoursError(f"not a day of the week: {', '.join(sorted(unknown))}")
    days = tuple(_openings(weekly.get(day, ()), day) for day in WEEKDAYS)
    dated: dict[date, tuple[Opening, ...]] = {}
    for text, openings in (exceptions or {}).items():
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise HoursError(f"{text!r} is not a date (YYYY-MM-DD)") from None
        dated[day] = _openings(openings, text)
    return BusinessHours(time_zone=time_zone, weekly=days, exceptions=dated)


def hours_as_data(hours: BusinessHours) -> dict[str, object]:
    """``parse_hours``'s input again, for the API and the database."""
    return {
        "time_zone": hours.time_zone,
        "weekly": {
            day: [str(o) for o in openings]
            for day, openings in zip(WEEKDAYS, hours.weekly, strict=True)
            if openings
        },
        "exceptions": {
            day.isoformat(): [str(o) for o in openings]
            for day, openings in sorted(hours.exceptions.items())
        },
    }


def _openings(texts: Sequence[str], where: str) -> tuple[Opening, ...]:
    openings = []
    for text in texts:
        match = _INTERVAL.fullmatch(text.strip())
        if match is None:
            raise HoursError(f"{where}: {text!r} is not HH:MM-HH:MM")
        start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
        if start_m > 59 or end_m > 59 or start_h > 23 or end_h > 24 or (end_h == 24 and end_m):
            raise HoursError(f"{where}: {text!r} is not a time of day")
        try:
            openings.append(Opening(start_h * 60 + start_m, end_h * 60 + end_m))
        except HoursError:
            raise HoursError(f"{where}: {text!r} must end after it starts") from None
    ordered = tuple(sorted(openings, key=lambda o: o.start))
    try:
        _require_apart(ordered)
    except HoursError:
        raise HoursError(f"{where}: openings overlap") from None
    return ordered


def _require_apart(openings: Sequence[Opening]) -> None:
    ordered = sorted(openings, key=lambda o: o.start)
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise HoursError(f"openings {before} and {after} overlap")


def _local_moment(day: date, minute: int, zone: ZoneInfo) -> datetime:
    if minute == DAY_MINUTES:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
