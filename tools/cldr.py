"""Writes ``src/frontdesk/mail/cldr.json``: the few pieces of Babel's CLDR data an e-mail
uses, so that a process writing e-mails does not load Babel's locale data to write them.

An e-mail says when a visitor wrote (``Nov 25, 2026 8:40 PM``) and in which zone
(``Central European Time (Europe/Prague)``). Babel writes both from its locale data, which
takes 4.5 MB of a worker's memory once loaded (docs/performance.md). The table holds, per
language: the medium date and short time patterns as Babel parses them, the month and
day-period names those patterns use, and the spoken name of every zone this system knows.

Run after upgrading Babel: ``python tools/cldr.py``. ``tests/mail/test_cldr.py`` checks
that the table says what Babel says, for every zone and for dates across the calendar.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from zoneinfo import available_timezones

import babel
from babel import Locale as BabelLocale
from babel.dates import parse_pattern

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from frontdesk.core.model import Locale  # noqa: E402
from frontdesk.mail.i18n import CLDR_FILE, DATE_FIELDS, UTC_NAMES, spoken_by_babel  # noqa: E402


def _formats(locale: str) -> dict[str, object]:
    data = BabelLocale.parse(locale)
    date = parse_pattern(data.date_formats["medium"].pattern).format
    time = parse_pattern(data.time_formats["short"].pattern).format
    for text in (date, time):
        used = set(_fields(text))
        if not used <= DATE_FIELDS:
            raise SystemExit(f"{locale}: fields {sorted(used - DATE_FIELDS)} are not written")
    months = data.months["format"]["abbreviated"]
    periods = data.day_periods["format"]["abbreviated"]
    return {
        "date": date,
        "time": time,
        "months": [months[number] for number in range(1, 13)],
        "periods": [periods["am"], periods["pm"]],
    }


def _fields(text: str) -> list[str]:
    """The ``%(field)s`` names of one of Babel's parsed patterns."""
    names = []
    for part in text.split("%(")[1:]:
        names.append(part.split(")s", 1)[0])
    return names


def tables() -> dict[str, object]:
    zones = sorted(z for z in available_timezones() if z.upper() not in UTC_NAMES)
    return {
        "babel": babel.__version__,
        "formats": {locale.value: _formats(locale.value) for locale in Locale},
        "zones": {
            locale.value: {z: spoken_by_babel(z, locale) for z in zones} for locale in Locale
        },
    }


def main() -> None:
    text = json.dumps(tables(), ensure_ascii=False, indent=0, sort_keys=True) + "\n"
    CLDR_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {CLDR_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
