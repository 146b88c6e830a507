"""The one place that turns a notification into an e-mail (docs/email.md).

An e-mail is ``multipart/alternative``: a plain-text part and an HTML part, both from the
Jinja2 templates in ``mail/templates``, in the recipient's language (``mail/i18n.py``) with
times in the recipient's zone. The HTML template is autoescaped and its CSS is inlined
(css-inline), because many mail clients ignore ``<style>``: into the template, once, by
``tools/inline_css.py``, which writes ``notification.inlined.html``; the templates' fixed
texts are translated when they are loaded (``_translated_source``), so that an e-mail only
renders its own values.

Visitor text is untrusted everywhere. In the HTML it is escaped; in both parts it loses
control characters. The visitor's name is in quotation marks, the page address their
browser sent is text, never a link, and a line says that these are the visitor's words,
unchecked: a visitor named "Your account is locked" cannot speak as Frontdesk. In a
header it first loses every control character (CR, LF and NUL included, so no header can be
injected through a visitor's name — Python 3.11's ``email`` package lacks the fix for
CVE-2024-6923, so nothing untrusted reaches it unflattened) and is shortened, and then the
``email`` package encodes what is not ASCII (RFC 2047).

Threading: every e-mail of one conversation names the conversation's thread id in
``In-Reply-To`` and ``References``, so mail clients show them as one thread.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.headerregistry import Address
from email.policy import SMTP
from email.utils import format_datetime
from functools import cache, lru_cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_eval_context,
    select_autoescape,
)
from jinja2.nodes import EvalContext
from markupsafe import Markup, escape

from frontdesk.core.alerts import AlertCause
from frontdesk.core.model import Locale
from frontdesk.core.notifications import NotificationKind
from frontdesk.mail.content import NotificationEmail
from frontdesk.mail.i18n import local_time, translations, zone_name

HEADER_TEXT_MAX = 60
TEMPLATES_DIR = Path(__file__).with_name("templates")
# Control characters, and the invisible ones that reorder text (bidi embeddings, overrides
# and isolates, the marks): after U+202E, "moc.knab" reads as "bank.com" to the recipient.
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+"
)
# In a body, line breaks and tabs mean something; every other control character goes.
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_SIMPLE_ADDRESS = re.compile(r"^[^\s@<>()\"',;:\\]+@[^\s@<>()\"',;:\\]+\.[^\s@<>()\"',;:\\]+$")


def header_safe(text: str, *, limit: int = HEADER_TEXT_MAX) -> str:
    """Untrusted text made fit for a header: one line, no control characters, short, and
    no RFC 2047 encoded word of its own. The ``email`` package decodes an encoded word it is
    given as text and writes the result out unquoted: a visitor named
    ``=?utf-8?q?Bcc=3A_x=40evil?=`` would otherwise become ``To: Bcc: x@evil <…>``."""
    flat = " ".join(_CONTROL.sub(" ", text).split()).replace("=?", "=\u2060?")
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def body_safe(text: str) -> str:
    """Untrusted text made fit for a body: ``\\n`` line breaks, no other control characters."""
    return _BODY_CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def typed_words(text: str, locale: Locale) -> str:
    """Words somebody typed (a visitor's name, an inviter's), in the language's quotation
    marks: ``"Anna"``, ``„Anna“``."""
    return translations(locale).gettext('"%(typed)s"') % {"typed": text}


def visitor_label(email: NotificationEmail, fit: Callable[[str], str] = str) -> str:
    """Who wrote: the name the visitor typed, else their address, in quotation marks, so
    that a visitor named "Your account is locked" reads as a visitor's words, not
    Frontdesk's (``fit``: made safe for where it goes first); else ``Visitor #7``."""
    return visitor_words(
        email.locale, email.visitor_name, email.visitor_email, email.conversation_id, fit
    )


def visitor_words(
    locale: Locale,
    name: str | None,
    address: str | None,
    conversation_id: int,
    fit: Callable[[str], str] = str,
) -> str:
    """``visitor_label`` of the visitor with this name and address."""
    typed = name if name and name.strip() else address
    if typed:
        return typed_words(fit(typed), locale)
    return translations(locale).gettext("Visitor #%(id)s") % {"id": conversation_id}


def new_messages_title(locale: Locale, who: str, shop: str, count: int) -> str:
    """``New message from "Anna" on Shop`` (the e-mail's subject, a push's title)."""
    text = translations(locale).ngettext(
        "New message from %(who)s on %(shop)s",
        "%(num)d new messages from %(who)s on %(shop)s",
        count,
    )
    return text % {"who": who, "shop": shop, "num": count}


def alert_title(locale: Locale, cause: AlertCause, shop: str) -> str:
    """An alert's e-mail subject and push title (docs/reachability.md)."""
    t = translations(locale)
    if cause is AlertCause.SMTP_FAILING:
        text = t.gettext("Frontdesk cannot send e-mail: notifications of %(shop)s wait")
    elif cause is AlertCause.NOBODY_ONLINE:
        text = t.gettext("Nobody is online on %(shop)s during business hours")
    else:
        text = t.gettext("A visitor of %(shop)s reached nobody")
    return text % {"shop": shop}


def unserved_title(locale: Locale, who: str, shop: str) -> str:
    """``"Anna" is waiting for an answer on Shop`` (the unserved-conversation reminder)."""
    text = translations(locale).gettext("%(who)s is waiting for an answer on %(shop)s")
    return text % {"who": who, "shop": shop}


def subject(email: NotificationEmail) -> str:
    """Who and what: ``New message from Anna on Shop`` / ``Missed conversation: …``."""
    who = visitor_label(email, header_safe)
    shop = header_safe(email.account_name, limit=40)
    if email.kind is NotificationKind.OFFLINE_MESSAGE:
        return new_messages_title(email.locale, who, shop, len(email.messages))
    return missed_title(email.locale, who, shop)


def missed_title(locale: Locale, who: str, shop: str) -> str:
    """``Missed conversation: "Anna" left Shop without an answer`` (the e-mail's subject,
    its push's title)."""
    text = translations(locale).gettext(
        "Missed conversation: %(who)s left %(shop)s without an answer"
    )
    return text % {"who": who, "shop": shop}


@dataclass(frozen=True, slots=True)
class RenderedParts:
    subject: str
    text: str
    html: str


def render(email: NotificationEmail) -> RenderedParts:
    """The subject and the two bodies, in the recipient's language.

    Every recipient of one notification who reads the same language in the same time zone
    gets the same parts but for the unsubscribe link, which is theirs: the parts are
    rendered once, with a stand-in for the link, kept, and given each recipient's link."""
    link = email.unsubscribe_url
    shared = _shared_parts(
        replace(
            email,
            message_id="",
            recipient_email="",
            recipient_name="",
            unsubscribe_url=_LINK_STAND_IN if link else None,
            reply_to=_REPLY_STAND_IN if email.reply_to else None,
        )
    )
    if not link:
        return shared
    return RenderedParts(
        subject=shared.subject,
        text=shared.text.replace(_LINK_STAND_IN, link),
        html=shared.html.replace(_LINK_STAND_IN, str(escape(link))),  # as the template would
    )


# Nobody can guess it, so no visitor text can contain it.
_LINK_STAND_IN = f"https://unsubscribe.invalid/{secrets.token_hex(16)}"
# Only whether there is one shows in the parts.
_REPLY_STAND_IN = "reply@reply.invalid"


# A notification's recipients are claimed together, in batches of 50 (the engine's
# SEND_BATCH): kept for a batch and more, the parts of one notification are rendered once
# even when its recipients straddle two batches. Each is ~7 kB; 256 of them held 1.8 MB of
# a worker that had long sent them (docs/performance.md).
@lru_cache(maxsize=64)
def _shared_parts(email: NotificationEmail) -> RenderedParts:
    context = _context(email)
    environment = _environment(email.locale)
    text = environment.get_template("notification.txt").render(context)
    html = environment.get_template("notification.html").render(context)
    return RenderedParts(subject=context["subject"], text=text, html=html)


def write(email: NotificationEmail) -> bytes:
    """The e-mail as sent, in bytes: ``multipart/alternative``, the text part, then the
    HTML part, both quoted-printable.

    Written directly rather than built as an ``EmailMessage``: the ``email`` package parses
    every header it is given and encodes the bodies in pure Python, 3.3 ms of the 3.8 ms an
    e-mail took to write (docs/performance.md). A header that is ASCII and fits on a line
    is written as it is; any other goes through the ``email`` package (encoded words,
    folding); From and To, the same from one e-mail to the next, are made once; the
    bodies are quoted-printable from ``binascii``. ``tests/mail/test_write.py`` holds the
    result to what the ``email`` package makes of the same e-mail."""
    parts = render(email)
    boundary = f"==============={secrets.randbits(63):019d}=="
    lines = [
        _from_header(email.sender),
        _to_header(header_safe(email.recipient_name), email.recipient_email),
        _header("Subject", parts.subject),
        _header("Date", format_datetime(email.decided_at)),
        _header("Message-ID", email.message_id),
    ]
    if email.reply_to:
        lines.append(_header("Reply-To", email.reply_to))
    if email.thread_id:
        lines.append(_header("In-Reply-To", email.thread_id))
        lines.append(_header("References", email.thread_id))
    lines.append(_FIXED_HEADERS)
    if email.list_id:
        # A quoted string: a quote or a backslash of the name would end or escape it.
        label = header_safe(email.account_name, limit=40).replace('"', "'").replace("\\", "/")
        lines.append(_header("List-Id", f'"{label}" {email.list_id}'))
    if email.unsubscribe_url:
        lines.append(_header("List-Unsubscribe", f"<{email.unsubscribe_url}>"))
        lines.append(_UNSUBSCRIBE_POST)
    lines.append(
        b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="%s"\r\n\r\n'
        % boundary.encode()
    )
    separator = b"--%s\r\n" % boundary.encode()
    for subtype, body in (("plain", parts.text), ("html", parts.html)):
        lines.append(separator)
        lines.append(_PART_HEADERS[subtype])
        lines.append(_quoted_printable(body))
        lines.append(b"\r\n")
    lines.append(b"--%s--\r\n" % boundary.encode())
    return b"".join(lines)


_FOLD_AT = 78  # SMTP.max_line_length
_LINE_LIMIT = 998
_FIXED_HEADERS = b"Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\n"
_UNSUBSCRIBE_POST = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
_PART_HEADERS = {
    subtype: (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode()
    for subtype in ("plain", "html")
}


def _header(name: str, value: str) -> bytes:
    """One header line, folded as the ``email`` package folds it (``SMTP`` policy), but
    for a long ASCII value with no space to fold at (a link, a message id): that one is
    written on one line (RFC 5322 allows 998 characters), where the ``email`` package would
    turn it into encoded words that no mail client reads as a link or an id."""
    if "\r" in value or "\n" in value:
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    if value.isascii():
        length = len(name) + 2 + len(value)
        if length <= _FOLD_AT or (length <= _LINE_LIMIT and " " not in value and "\t" not in value):
            return f"{name}: {value}\r\n".encode("ascii")
    _name, parsed = SMTP.header_store_parse(name, value)
    folded: str = parsed.fold(policy=SMTP)
    return folded.encode("ascii")


@lru_cache(maxsize=8)
def _from_header(sender: str) -> bytes:
    return _header("From", sender)


@lru_cache(maxsize=4096)
def _to_header(name: str, address: str) -> bytes:
    return _header("To", str(Address(display_name=name, addr_spec=address)))


def _quoted_printable(text: str) -> bytes:
    """``text`` (``\\n`` line breaks) as quoted-printable with CRLF line breaks, ending
    with a line break (as ``EmailMessage.set_content`` ends a text)."""
    if not text.endswith("\n"):
        text += "\n"
    return binascii.b2a_qp(text.replace("\n", "\r\n").encode("utf-8"), istext=True)


def _context(email: NotificationEmail) -> dict[str, Any]:
    who = visitor_label(email, body_safe)
    count = len(email.messages)
    messages = [
        {
            "time": local_time(m.created_at, time_zone=email.time_zone, locale=email.locale),
            "text": body_safe(m.text),
        }
        for m in email.messages
    ]
    visitor_email = body_safe(email.visitor_email) if email.visitor_email else None
    page_url = body_safe(email.page_url) if email.page_url else None
    first = messages[0]["text"] if messages else ""
    return {
        "lang": email.locale.value,
        "kind": email.kind.value,
        "subject": subject(email),
        "preheader": " ".join(first.split())[:140],
        "who": who,
        "shop": body_safe(email.account_name),
        "count": count,
        "messages": messages,
        "visitor_email": visitor_email,
        "visitor_mailto": (
            f"mailto:{quote(visitor_email, safe='@')}"
            if visitor_email and _SIMPLE_ADDRESS.match(visitor_email)
            else None
        ),
        "page_url": page_url,
        "left_at": (
            local_time(email.visitor_left_at, time_zone=email.time_zone, locale=email.locale)
            if email.visitor_left_at and email.kind is NotificationKind.MISSED_CONVERSATION
            else None
        ),
        "conversation_url": email.conversation_url,
        "unsubscribe_url": email.unsubscribe_url,
        "replies": email.reply_to is not None,
        "zone": zone_name(email.time_zone, locale=email.locale),
    }


@pass_eval_context
def _nl2br(eval_context: EvalContext, text: str) -> Markup | str:
    lines = str(text).split("\n")
    if not eval_context.autoescape:
        return "\n".join(lines)
    return Markup("<br>\n").join(escape(line) for line in lines)


@cache
def _environment(locale: Locale, *, prepared: bool = True) -> Environment:
    """The templates in ``locale``; ``prepared`` as they are loaded (``_PreparingLoader``:
    the HTML e-mail's CSS inlined, the fixed texts translated), otherwise as written
    (``tests/mail`` compares the two)."""
    environment = Environment(
        loader=(
            _PreparingLoader(TEMPLATES_DIR, translations(locale))
            if prepared
            else FileSystemLoader(TEMPLATES_DIR)
        ),
        # The templates are part of the installed package: never looked at again.
        auto_reload=False,
        # Everything is escaped but the plain-text part, where nothing is interpreted.
        autoescape=select_autoescape(
            enabled_extensions=("html",), disabled_extensions=("txt",), default=True
        ),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["nl2br"] = _nl2br
    environment.filters[_FORMAT] = _format
    environment.filters[_PLURAL] = _plural_of(translations(locale))
    environment.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return environment


class _PreparingLoader(FileSystemLoader):
    """The templates of one language, prepared once as they are loaded, so that an e-mail
    renders only its own values: the HTML e-mail's read with its ``<style>`` inlined (as
    ``tools/inline_css.py`` writes it), and their fixed texts translated
    (``_translated_source``)."""

    def __init__(self, searchpath: Path, translations: NullTranslations) -> None:
        super().__init__(searchpath)
        self._translations = translations

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(
            environment, INLINED_TEMPLATES.get(template, template)
        )
        return _translated_source(source, self._translations), filename, uptodate


# ``{{ _("…") }}`` and ``{{ _("…", name=name, …) }}``: a text of its own, without escapes,
# and values that are plain names. Any other call is left to the i18n extension.
_TRANSLATION_CALL = re.compile(r'\{\{\s*_\(\s*"([^"\\]*)"\s*((?:,\s*\w+\s*=\s*\w+\s*)*)\)\s*\}\}')
_FORMAT = "frontdesk_format"
# ``{{ ngettext("…", "…", count, name=name, …) }}``: the same, translated as it renders.
_PLURAL_CALL = re.compile(
    r'\{\{\s*ngettext\(\s*("[^"\\]*")\s*,\s*("[^"\\]*")\s*,\s*(\w+)\s*'
    r"((?:,\s*\w+\s*=\s*\w+\s*)*)\)\s*\}\}"
)
_PLURAL = "frontdesk_plural"
# The templates written with their CSS inlined (tools/inline_css.py), by the names they are
# asked for.
INLINED_TEMPLATES = {"notification.html": "notification.inlined.html"}


def _translated_source(source: str, translations: NullTranslations) -> str:
    """A template's source with its fixed texts translated: each ``_("…")`` call becomes
    its translation (as text of the template), each ``_("…", who=who)`` the translation
    formatted by a filter. The i18n extension would look each text up at every render,
    through two calls of the template's context; what comes out is the same
    (``tests/mail/test_compose.py``): a translation is markup to be formatted, never
    escaped itself, in the HTML template as in the extension (``newstyle``)."""

    def translated(match: re.Match[str]) -> str:
        text = translations.gettext(match.group(1))
        if "\\" in text or "{" in text or "}" in text:
            return match.group()  # not safe to put in the template as it is
        values = match.group(2).strip().lstrip(",").strip()
        if not values:
            try:
                return text % {}
            except (KeyError, TypeError, ValueError):  # fails at render time, as it would
                return match.group()
        if '"' in text or "\n" in text:
            return match.group()
        return f'{{{{ "{text}"|{_FORMAT}({values}) }}}}'

    def plural(match: re.Match[str]) -> str:
        singular, plural, count, values = match.groups()
        return f"{{{{ {count}|{_PLURAL}({singular}, {plural}{values.rstrip()}) }}}}"

    return _PLURAL_CALL.sub(plural, _TRANSLATION_CALL.sub(translated, source))


def _plural_of(translations: NullTranslations) -> Callable[..., str]:
    @pass_eval_context
    def plural(
        eval_context: EvalContext, count: int, singular: str, plural: str, **values: Any
    ) -> str:
        """``ngettext`` as the i18n extension calls it (``num`` is the count), without the
        two calls through the template's context."""
        values.setdefault("num", count)
        return _format(eval_context, translations.ngettext(singular, plural, count), **values)

    return plural


@pass_eval_context
def _format(eval_context: EvalContext, text: str, **values: Any) -> str:
    """A translation with its values, as the i18n extension formats it: markup (each value
    escaped) in an escaped template."""
    # A translation is trusted text, as the extension trusts it; the values are escaped.
    return (Markup(text) if eval_context.autoescape else text) % values  # noqa: S704


def unsubscribe_page(
    *,
    locale: Locale,
    kind: NotificationKind,
    email: str,
    done: bool,
    action_url: str,
    dashboard_url: str,
) -> str:
    """The page of an unsubscribe link: the question (``done=False``) or the answer."""
    return (
        _environment(locale)
        .get_template("unsubscribe.html")
        .render(
            lang=locale.value,
            kind=kind.value,
            email=email,
            done=done,
            action_url=action_url,
            dashboard_url=dashboard_url,
        )
    )


def templates(locale: Locale) -> Environment:
    """The e-mail templates in ``locale``, prepared as the notification's are (for
    ``frontdesk.mail.notices``)."""
    return _environment(locale)
