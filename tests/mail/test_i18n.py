"""Every text of the e-mails and pages is translated into every language, with the same
placeholders, and the catalogs are made from the texts the code and templates use now."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from frontdesk.core.model import Locale
from frontdesk.mail.i18n import LOCALES_DIR, translations

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted_ids(tmp_path: Path) -> set[str]:
    pot = tmp_path / "now.pot"
    subprocess.run(
        ["pybabel", "-q", "extract", "-F", "babel.cfg", "-o", str(pot), "--no-location", "src"],
        check=True,
        cwd=ROOT,
    )
    with pot.open("rb") as file:
        return {_key(m.id) for m in read_po(file) if m.id}


def _key(message_id: str | tuple[str, ...] | list[str]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def test_the_template_holds_exactly_the_texts_in_use(tmp_path: Path) -> None:
    with (LOCALES_DIR / "frontdesk.pot").open("rb") as file:
        committed = {_key(m.id) for m in read_po(file) if m.id}
    assert extracted_ids(tmp_path) == committed, "run: python tools/translations.py"
    assert len(committed) >= 25


@pytest.mark.parametrize("locale", [Locale.DE, Locale.CS])
def test_every_text_is_translated_with_its_placeholders(locale: Locale) -> None:
    with (LOCALES_DIR / "frontdesk.pot").open("rb") as file:
        wanted = {_key(m.id): m.id for m in read_po(file) if m.id}
    po_file = LOCALES_DIR / locale.value / "LC_MESSAGES" / "frontdesk.po"
    with po_file.open("rb") as file:
        catalog = read_po(file, locale=locale.value)
    forms = 3 if locale is Locale.CS else 2
    for key, message_id in wanted.items():
        message = catalog.get(message_id)
        assert message is not None, f"{locale}: {key!r} is not translated"
        assert not message.fuzzy
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert len(strings) == (forms if isinstance(message_id, tuple) else 1)
        for string in map(str, strings):
            assert string, f"{locale}: {key!r} is empty"
            assert set(PLACEHOLDER.findall(string)) <= set(PLACEHOLDER.findall(key + " %(num)d"))
            assert string != key or key in ("E-mail",), f"{locale}: {key!r} is left in English"


def test_the_catalogs_load_and_choose_plural_forms() -> None:
    czech = translations(Locale.CS)
    assert czech.ngettext("Message", "Messages", 1) == "Zpráva"
    assert czech.ngettext("Message", "Messages", 3) == "Zprávy"
    german = translations(Locale.DE)
    assert german.gettext("Open the conversation") == "Unterhaltung öffnen"
    assert translations(Locale.EN).gettext("Open the conversation") == "Open the conversation"
