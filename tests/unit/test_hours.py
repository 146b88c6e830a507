"""Business hours (core/hours.py) on a manual clock: local hours across the change to and
from summer time, in another zone, on a holiday and a shorter day, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from frontdesk.core.hours import (
    BusinessHours,
    HoursError,
    hours_as_data,
    is_open,
    next_change,
    next_opening,
    parse_hours,
)

WEEKDAYS_9_TO_5 = {
    day: ["09:00-17:00"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def prague(**exceptions: list[str]) -> BusinessHours:
    return parse_hours(
        "Europe/Prague", WEEKDAYS_9_TO_5, {k.replace("_", "-"): v for k, v in exceptions.items()}
    )


def test_local_hours_are_an_hour_off_utc_in_winter_and_two_in_summer() -> None:
    hours = prague()
    # Monday 7 December 2026: CET, UTC+1.
    assert not is_open(hours, utc(2026, 12, 7, 7, 59))
    assert is_open(hours, utc(2026, 12, 7, 8, 0))
    assert is_open(hours, utc(2026, 12, 7, 15, 59))
    assert not is_open(hours, utc(2026, 12, 7, 16, 0))
    # Monday 6 July 2026: CEST, UTC+2.
    assert not is_open(hours, utc(2026, 7, 6, 6, 59))
    assert is_open(hours, utc(2026, 7, 6, 7, 0))
    assert not is_open(hours, utc(2026, 7, 6, 15, 0))


def test_back_on_monday_after_the_clocks_go_forward() -> None:
    hours = prague()
    # Friday 27 March 2026, 17:30 CET; the clocks go forward on Sunday the 29th.
    friday_evening = utc(2026, 3, 27, 16, 30)
    assert not is_open(hours, friday_evening)
    assert next_opening(hours, friday_evening) == utc(2026, 3, 30, 7, 0)  # 09:00 CEST
    assert not is_open(hours, utc(2026, 3, 30, 6, 59))
    assert is_open(hours, utc(2026, 3, 30, 7, 0))


def test_back_on_monday_after_the_clocks_go_back() -> None:
    hours = prague()
    # Friday 23 October 2026, 18:00 CEST; the clocks go back on Sunday the 25th.
    assert next_opening(hours, utc(2026, 10, 23, 16, 0)) == utc(2026, 10, 26, 8, 0)


def test_the_same_hours_in_another_zone_are_other_moments() -> None:
    new_york = parse_hours("America/New_York", WEEKDAYS_9_TO_5)
    monday_noon_utc = utc(2026, 12, 7, 12, 0)  # 13:00 in Prague, 07:00 in New York
    assert is_open(prague(), monday_noon_utc)
    assert not is_open(new_york, monday_noon_utc)
    assert next_opening(new_york, monday_noon_utc) == utc(2026, 12, 7, 14, 0)
    # The USA changed its clocks on 8 March 2026, Europe not until the 29th.
    assert next_opening(new_york, utc(2026, 3, 9, 12, 0)) == utc(2026, 3, 9, 13, 0)


def test_a_holiday_is_closed_and_a_short_day_is_short() -> None:
    hours = prague(**{"2026_12_24": ["09:00-12:00"], "2026_12_25": []})
    assert is_open(hours, utc(2026, 12, 24, 9, 0))  # 10:00 on Christmas Eve
    assert not is_open(hours, utc(2026, 12, 24, 12, 0))  # 13:00: closed for the day
    assert not is_open(hours, utc(2026, 12, 25, 10, 0))  # a Friday, but a holiday
    # From Christmas Eve afternoon, past the holiday and the weekend, to Monday 09:00.
    assert next_opening(hours, utc(2026, 12, 24, 12, 0)) == utc(2026, 12, 28, 8, 0)


def test_open_now_is_back_now_and_never_open_is_none() -> None:
    hours = prague()
    now = utc(2026, 12, 7, 10, 0)
    assert next_opening(hours, now) == now
    closed = parse_hours("Europe/Prague", {})
    assert next_opening(closed, now) is None


def test_an_opening_to_midnight_and_one_across_it() -> None:
    hours = parse_hours("UTC", {"friday": ["20:00-24:00"], "saturday": ["00:00-02:00"]})
    assert is_open(hours, utc(2026, 12, 11, 23, 59))
    assert is_open(hours, utc(2026, 12, 12, 0, 0))
    assert not is_open(hours, utc(2026, 12, 12, 2, 0))
    assert next_opening(hours, utc(2026, 12, 12, 2, 0)) == utc(2026, 12, 18, 20, 0)


def test_hours_come_back_as_they_were_given() -> None:
    given = {
        "time_zone": "Europe/Prague",
        "weekly": {"monday": ["09:00-12:00", "13:00-17:00"], "saturday": ["10:00-14:00"]},
        "exceptions": {"2026-12-24": ["09:00-12:00"], "2026-12-25": []},
    }
    parsed = parse_hours(given["time_zone"], given["weekly"], given["exceptions"])  # type: ignore[arg-type]
    assert hours_as_data(parsed) == given


@pytest.mark.parametrize(
    ("zone", "weekly", "exceptions", "said"),
    [
        ("Mars/Olympus", {}, {}, "not an IANA time zone"),
        ("UTC", {"someday": ["09:00-17:00"]}, {}, "not a day of the week: someday"),
        ("UTC", {"monday": ["9-17"]}, {}, "'9-17' is not HH:MM-HH:MM"),
        ("UTC", {"monday": ["17:00-09:00"]}, {}, "must end after it starts"),
        ("UTC", {"monday": ["09:00-09:00"]}, {}, "must end after it starts"),
        ("UTC", {"monday": ["25:00-26:00"]}, {}, "is not a time of day"),
        ("UTC", {"monday": ["09:60-10:00"]}, {}, "is not a time of day"),
        ("UTC", {"monday": ["09:00-12:00", "11:00-13:00"]}, {}, "monday: openings overlap"),
        ("UTC", {}, {"24.12.2026": []}, "is not a date"),
    ],
)
def test_impossible_hours_are_refused_with_what_is_wrong(
    zone: str, weekly: dict[str, list[str]], exceptions: dict[str, list[str]], said: str
) -> None:
    with pytest.raises(HoursError, match=said):
        parse_hours(zone, weekly, exceptions)


def test_the_next_change_is_the_close_while_open_and_the_opening_while_closed() -> None:
    """What a widget's socket waits for to say the team opened or closed."""
    hours = prague(**{"2026_12_24": ["09:00-12:00"], "2026_12_25": []})
    # Monday 7 December 2026, 10:00 CET: open until 17:00 CET (16:00 UTC).
    assert next_change(hours, utc(2026, 12, 7, 9, 0)) == utc(2026, 12, 7, 16, 0)
    # At the close: closed, back on Tuesday at 09:00.
    assert next_change(hours, utc(2026, 12, 7, 16, 0)) == utc(2026, 12, 8, 8, 0)
    # Christmas Eve closes at noon; Christmas Day is a holiday; back on the 28th (Monday).
    assert next_change(hours, utc(2026, 12, 24, 9, 0)) == utc(2026, 12, 24, 11, 0)
    assert next_change(hours, utc(2026, 12, 24, 11, 0)) == utc(2026, 12, 28, 8, 0)
    # Summer: Monday 6 July 2026, 16:59 CEST closes at 17:00 CEST (15:00 UTC).
    assert next_change(hours, utc(2026, 7, 6, 14, 59)) == utc(2026, 7, 6, 15, 0)


def test_an_opening_until_midnight_changes_at_midnight_and_asking_then_says_open() -> None:
    hours = parse_hours("Etc/GMT-1", {"monday": ["20:00-24:00"], "tuesday": ["00:00-02:00"]})
    # Monday 7 December 2026 22:00 local (21:00 UTC): the next change is midnight local.
    midnight = next_change(hours, utc(2026, 12, 7, 21, 0))
    assert midnight == utc(2026, 12, 7, 23, 0)
    assert is_open(hours, midnight)
    assert next_change(hours, midnight) == utc(2026, 12, 8, 1, 0)
