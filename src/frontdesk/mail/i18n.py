"""Frontdesk's words in the recipient's language, and times in the recipient's zone.

The texts are written in English in the templates and in the code (``gettext`` message
ids); German and Czech live in gettext catalogs under ``mail/locales/<locale>/LC_MESSAGES``.
The ``.po`` files are read as they are when first needed (Babel compiles them in memory), so
there is no build step and no compiled file to forget. ``tests/mail/test_i18n.py`` checks
that every text of the templates is translated in every catalog.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time, get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from frontdesk.core.model import Locale

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "frontdesk"


@cache
def translations(locale: Locale) -> NullTranslations:
    """The catalog of ``locale``; English is the message ids themselves."""
    if locale is Locale.EN:
        return NullTranslations()
    po_file = LOCALES_DIR / locale.value / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_file.open("rb") as po:
        catalog = read_po(po, locale=locale.value, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def zone(name: str) -> ZoneInfo:
    """The agent's zone; a name this system does not know reads as UTC, never as an error
    while an e-mail is being written."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local_time(moment: datetime, *, time_zone: str, locale: Locale) -> str:
    """``Nov 25, 2026 8:40 PM`` / ``25.11.2026 20:40`` / ``25. 11. 2026 20:40``: to the
    minute, so a minute once written is kept for the messages of the same minute (Babel
    takes ~50 µs to write one)."""
    return _local_minute(moment.replace(second=0, microsecond=0), time_zone, locale)


@lru_cache(maxsize=4096)
def _local_minute(moment: datetime, time_zone: str, locale: Locale) -> str:
    local = moment.astimezone(zone(time_zone))
    day = format_date(local, "medium", locale=locale.value)
    return f"{day} {format_time(local, 'short', locale=locale.value)}"


@lru_cache(maxsize=256)
def zone_name(time_zone: str, *, locale: Locale) -> str:
    """The zone as people say it (``Central European Time``), with its IANA name."""
    if time_zone.upper() in ("UTC", "ETC/UTC", "GMT", "ETC/GMT", "UNIVERSAL", "ZULU"):
        return "UTC"
    spoken = get_timezone_name(zone(time_zone), locale=locale.value)
    if "(" in spoken or spoken == time_zone:  # CLDR has no name for it: "Unknown Region (…)"
        return time_zone
    return f"{spoken} ({time_zone})"
