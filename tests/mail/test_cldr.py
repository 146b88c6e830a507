"""The e-mails' dates and zone names come from ``mail/cldr.json``, not from Babel's locale
data (4.5 MB of a worker, docs/performance.md): the table must say what Babel says. After
a Babel upgrade that changes a name or a format, run ``python tools/cldr.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from babel.dates import format_date, format_time
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.core.model import Locale
from frontdesk.mail.i18n import (
    CLDR_FILE,
    _local_minute,
    local_time,
    spoken_by_babel,
    zone,
    zone_name,
)

TABLES = json.loads(CLDR_FILE.read_text(encoding="utf-8"))
# Zones of every kind of name: a 12-hour day, half and quarter hours, a date line, a zone
# whose name CLDR does not hold in every language, southern summers.
ZONES = [
    "America/New_York",
    "Europe/Prague",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Kiritimati",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "UTC",
]


def babel_minute(moment: datetime, time_zone: str, locale: Locale) -> str:
    local = moment.astimezone(zone(time_zone))
    day = format_date(local, "medium", locale=locale.value)
    return f"{day} {format_time(local, 'short', locale=locale.value)}"


@pytest.mark.parametrize("locale", list(Locale))
def test_every_zone_s_name_is_babel_s(locale: Locale) -> None:
    names = TABLES["zones"][locale.value]
    assert len(names) > 400, "the table holds this system's zones"
    babel_s = {time_zone: spoken_by_babel(time_zone, locale) for time_zone in names}
    differing = {
        time_zone: (spoken, babel_s[time_zone])
        for time_zone, spoken in names.items()
        if spoken != babel_s[time_zone]
    }
    assert differing == {}, "run: python tools/cldr.py"


def test_a_zone_is_named_with_its_iana_name_and_utc_alone() -> None:
    assert zone_name("Europe/Prague", locale=Locale.EN) == "Central European Time (Europe/Prague)"
    assert zone_name("Europe/Prague", locale=Locale.DE) == (
        "Mitteleuropäische Zeit (Europe/Prague)"
    )
    assert zone_name("Etc/UTC", locale=Locale.CS) == "UTC"
    held_by_none = next(z for z, spoken in TABLES["zones"]["en"].items() if spoken is None)
    assert zone_name(held_by_none, locale=Locale.EN) == held_by_none


def test_a_zone_the_table_does_not_hold_is_named_by_babel() -> None:
    # A zone this system's data is newer than the table for reads as Babel writes it; a
    # name that is no zone reads as UTC's, as before the table.
    assert "Mars/Olympus_Mons" not in TABLES["zones"]["en"]
    expected = spoken_by_babel("Mars/Olympus_Mons", Locale.EN)
    written = zone_name("Mars/Olympus_Mons", locale=Locale.EN)
    assert written == (
        "Mars/Olympus_Mons" if expected is None else f"{expected} (Mars/Olympus_Mons)"
    )


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(UTC)
    ),
    time_zone=st.sampled_from(ZONES),
    locale=st.sampled_from(list(Locale)),
)
def test_a_date_and_time_read_as_babel_writes_them(
    moment: datetime, time_zone: str, locale: Locale
) -> None:
    minute = moment.replace(second=0, microsecond=0)
    assert _local_minute.__wrapped__(minute, time_zone, locale) == babel_minute(
        minute, time_zone, locale
    )


@pytest.mark.parametrize("locale", list(Locale))
def test_every_hour_and_month_reads_as_babel_writes_it(locale: Locale) -> None:
    # Midnight and noon, each side of them, and every month's name.
    for month in range(1, 13):
        for hour in (0, 1, 11, 12, 13, 23):
            moment = datetime(2026, month, 9, hour, 5, tzinfo=UTC)
            assert local_time(moment, time_zone="UTC", locale=locale) == babel_minute(
                moment, "UTC", locale
            )


def test_an_english_e_mail_imports_no_babel() -> None:
    written = """
import sys
from datetime import UTC, datetime
from frontdesk.core.model import Locale
from frontdesk.mail.i18n import local_time, translations, zone_name
print(local_time(datetime(2026, 11, 25, 19, 40, tzinfo=UTC), time_zone="Europe/Prague",
                 locale=Locale.EN))
print(zone_name("Europe/Prague", locale=Locale.EN))
print(translations(Locale.EN).ngettext("one", "many", 2))
print(sorted(m for m in sys.modules if m.split(".")[0] == "babel"))
"""
    out = subprocess.run(
        [sys.executable, "-c", written], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        "Nov 25, 2026 8:40\u202fPM",
        "Central European Time (Europe/Prague)",
        "many",
        "[]",
    ]
