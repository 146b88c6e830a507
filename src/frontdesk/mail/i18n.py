"""Frontdesk's words in the recipient's language, and times in the recipient's zone.

The texts are written in English in the templates and in the code (``gettext`` message
ids); German and Czech live in gettext catalogs under ``mail/locales/<locale>/LC_MESSAGES``.
The ``.po`` files are read as they are when first needed (Babel compiles them in memory), so
there is no build step and no compiled file to forget. ``tests/mail/test_i18n.py`` checks
that every text of the templates is translated in every catalog.

Dates and zone names are written from ``cldr.json``, the few pieces of Babel's CLDR data
they need, taken from Babel by ``tools/cldr.py``: Babel's whole locale data would take 4.5
MB of every process that writes e-mails (docs/performance.md). ``tests/mail/test_cldr.py``
checks that the table says what Babel says. English e-mails import no Babel at all.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from functools import cache, lru_cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from frontdesk.core.model import Locale

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "frontdesk"
CLDR_FILE = Path(__file__).with_name("cldr.json")
# The fields of a CLDR date or time pattern that ``local_time`` writes.
DATE_FIELDS = frozenset({"y", "M", "MM", "MMM", "d", "dd", "h", "hh", "H", "HH", "mm", "a"})
# Zone names written as "UTC" alone.
UTC_NAMES = frozenset({"UTC", "ETC/UTC", "GMT", "ETC/GMT", "UNIVERSAL", "ZULU"})


@cache
def translations(locale: Locale) -> NullTranslations:
    """The catalog of ``locale``; English is the message ids themselves."""
    if locale is Locale.EN:
        return NullTranslations()
    # Babel only to compile a catalog, once a language other than English is asked for.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po_file = LOCALES_DIR / locale.value / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_file.open("rb") as po:
        catalog = read_po(po, locale=locale.value, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return GNUTranslations(compiled)


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
    minute, so a minute once written is kept for the messages of the same minute."""
    return _local_minute(moment.replace(second=0, microsecond=0), time_zone, locale)


@lru_cache(maxsize=4096)
def _local_minute(moment: datetime, time_zone: str, locale: Locale) -> str:
    local = moment.astimezone(zone(time_zone))
    formats = _cldr()["formats"][locale.value]
    hour = local.hour % 12 or 12
    fields = {
        "y": str(local.year),
        "M": str(local.month),
        "MM": f"{local.month:02d}",
        "MMM": formats["months"][local.month - 1],
        "d": str(local.day),
        "dd": f"{local.day:02d}",
        "h": str(hour),
        "hh": f"{hour:02d}",
        "H": str(local.hour),
        "HH": f"{local.hour:02d}",
        "mm": f"{local.minute:02d}",
        "a": formats["periods"][local.hour >= 12],
    }
    return f"{formats['date'] % fields} {formats['time'] % fields}"


@lru_cache(maxsize=256)
def zone_name(time_zone: str, *, locale: Locale) -> str:
    """The zone as people say it (``Central European Time``), with its IANA name."""
    if time_zone.upper() in UTC_NAMES:
        return "UTC"
    names = _cldr()["zones"][locale.value]
    spoken = names[time_zone] if time_zone in names else spoken_by_babel(time_zone, locale)
    return time_zone if spoken is None else f"{spoken} ({time_zone})"


def spoken_by_babel(time_zone: str, locale: Locale) -> str | None:
    """Babel's generic long name of a zone, None where CLDR has none of its own: what
    ``tools/cldr.py`` puts in the table, and the answer for a zone the table does not hold
    (this system's zone data is newer than it, or the name is none)."""
    from babel.dates import get_timezone_name

    spoken = get_timezone_name(zone(time_zone), locale=locale.value)
    if "(" in spoken or spoken == time_zone:  # "Unknown Region (…)", or the name itself
        return None
    return spoken


@cache
def _cldr() -> dict[str, Any]:
    tables: dict[str, Any] = json.loads(CLDR_FILE.read_text(encoding="utf-8"))
    return tables
