"""The new words of a reply e-mail: an agent or a visitor answers a notification from their
mail client, which sends back what they typed together with the quoted notification, a
signature and perhaps a phone footer. ``reply_text`` picks the body of such an e-mail,
reads it as text (``html_to_text`` when only HTML came) and keeps what is new
(``strip_quoted``), knowing how Gmail, Outlook, Apple Mail and Thunderbird quote in English,
German and Czech. All of it is written by a stranger: the result is plain text without
control characters, for the caller to store and to escape on display.
"""

from __future__ import annotations

import contextlib
import re
from email.message import Message
from html.parser import HTMLParser

# Labelled so by mail clients, but read the way browsers read them (WHATWG encodings).
_CHARSET_ALIASES = {"us-ascii": "utf-8", "ascii": "utf-8", "iso-8859-1": "cp1252"}
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]"
)

_ORIGINAL = re.compile(
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|původní zpráva|forwarded message"
    r"|weitergeleitete nachricht|přeposlaná zpráva)\s*-{2,}",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"\*?(?:from|von|od)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(r"\*?(?:sent|gesendet|odesláno|date|datum)\s*:", re.IGNORECASE)
_RULE = re.compile(r"_{5,}")
_ATTRIBUTION = re.compile(
    r"on\s.*\b(?:wrote|writes)\s*:"
    r"|am\s.*\bschrieb\b.*:|[^@]*@.*\bschrieb am\b.*:"
    r"|(?:dne\s|(?:po|út|st|čt|pá|so|ne)\.?\s+\d).*\b(?:napsal|napsala|napsal\(a\))\s*:"
    r"|\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4}\s+v\s+\d{1,2}:\d{2},\s.+:",  # Apple Mail in Czech
    re.IGNORECASE,
)
_DATEISH = re.compile(r"\d{1,2}:\d{2}|\b\d{4}\b|\d{1,2}[./]\s?\d{1,2}[./]|@")
_STRONG = re.compile(r"@|\b(?:19|20)\d{2}\b.*\d{1,2}:\d{2}|\d{1,2}:\d{2}.*\b(?:19|20)\d{2}\b")
# The line above a quote block that runs to the end, in a language not known here:
# "Le 6 déc. 2026 à 10:00, Frontdesk <notify@example.com> a écrit :".
_LOOSE_ATTRIBUTION = re.compile(r"(?=.*(?:\d{1,2}:\d{2}|@)).{1,200}:")
_SIGNATURE = re.compile(r"--\s?")
_FOOTER = re.compile(
    r"\s*(?:sent from my [\w-]+(?: [\w-]+){0,2}|sent from (?:outlook|mail for windows(?: \d+)?)"
    r"|get outlook for (?:ios|android)|von meinem [\w-]+(?: [\w-]+){0,2} gesendet"
    r"|gesendet von (?:meinem [\w-]+(?: [\w-]+){0,2}|outlook(?: für (?:ios|android))?)"
    r"|holen sie sich outlook für (?:ios|android)|odesláno z (?:mého )?[\w-]+(?: [\w-]+){0,2}"
    r"|získat outlook pro (?:ios|android))\.?\s*(?:<https?://[^\s<>]*>|\(https?://[^\s()]*\))?\s*",
    re.IGNORECASE,
)


def reply_text(message: Message, *, limit: int = 10_000) -> str:
    """The new words of ``message``, at most ``limit`` characters; "" when there are none."""
    if limit < 1:
        raise ValueError("limit must be positive")
    body = _body(message)
    if body is None:
        return ""
    part, is_html = body
    text = _decode(part)
    text = html_to_text(text) if is_html else text.replace("\r\n", "\n").replace("\r", "\n")
    if not is_html and str(part.get_param("format") or "").lower() == "flowed":
        text = _unflow(text, delsp=str(part.get_param("delsp") or "").lower() == "yes")
    text = strip_quoted(_CONTROL.sub("", text))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _body(message: Message) -> tuple[Message, bool] | None:
    """The first text/plain part, else the first text/html one (True), that is no attachment.
    An attached e-mail (message/rfc822) is not looked into: its words are not this one's."""
    html: Message | None = None
    stack = [message]  # not recursive: the nesting depth is the sender's choice
    while stack:
        part = stack.pop()
        if part.get_content_disposition() == "attachment":
            continue
        if part.get_content_maintype() == "multipart":
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(child for child in reversed(children) if isinstance(child, Message))
        elif part.get_content_type() == "text/plain":
            return part, False
        elif part.get_content_type() == "text/html" and html is None:
            html = part
    return None if html is None else (html, True)


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(_CHARSET_ALIASES.get(charset, charset), "replace")
    except (LookupError, ValueError):  # a name no codec has, or one that takes no "replace"
        return payload.decode("utf-8", "replace")


def _unflow(text: str, *, delsp: bool) -> str:
    """format=flowed (RFC 3676) joined back into paragraphs, quotes marked "> " again."""
    lines: list[str] = []
    paragraph: str | None = None
    depth = 0
    for line in text.split("\n"):
        quote = len(line) - len(line.lstrip(">"))
        content = line[quote:]
        content = content[1:] if content.startswith(" ") else content  # space-stuffing
        if paragraph is not None and quote != depth:
            lines.append(_requote(depth, paragraph))
            paragraph = None
        paragraph, depth = (paragraph or "") + content, quote
        if content.endswith(" ") and content != "-- ":
            if delsp:
                paragraph = paragraph[:-1]
            continue
        lines.append(_requote(depth, paragraph))
        paragraph = None
    if paragraph is not None:
        lines.append(_requote(depth, paragraph))
    return "\n".join(lines)


def _requote(depth: int, text: str) -> str:
    return ">" * depth + " " + text if depth else text


def _tidy(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def strip_quoted(text: str) -> str:
    """``text`` without the quoted earlier e-mail, ">" quoted lines and a trailing signature."""
    lines = _cut_quote(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    lines = _drop_quote_lines(lines)
    for index, line in enumerate(lines):
        if _SIGNATURE.fullmatch(line):
            lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or _FOOTER.fullmatch(lines[-1])):
        lines.pop()
    return _tidy("\n".join(lines))


def _cut_quote(lines: list[str]) -> list[str]:
    """The lines above the first one that begins the quoted e-mail. An attribution above
    quoted lines with answers between them (an interleaved reply) is dropped alone."""
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if _ORIGINAL.fullmatch(line) or _outlook_header(lines, index):
            while kept and (not kept[-1].strip() or _RULE.fullmatch(kept[-1].strip())):
                kept.pop()  # Outlook's line of underscores above its header block
            return kept
        span = _attribution(lines, index)
        if span and not _interleaved(lines, index + span):
            return kept
        if not span:
            kept.append(lines[index])
        index += span or 1
    return kept


def _outlook_header(lines: list[str], index: int) -> bool:
    if not _HEADER_FROM.match(lines[index].strip()):
        return False
    return any(_HEADER_SENT.match(line.strip()) for line in lines[index + 1 : index + 4])


def _attribution(lines: list[str], index: int) -> int:
    """How many lines (1 to 3: Gmail wraps it) the attribution starting here spans, or 0."""
    candidate = lines[index].strip()
    if candidate.startswith(">") or not _DATEISH.search(candidate[:300]):
        return 0
    for span in range(1, 4):
        if span > 1:
            line = lines[index + span - 1].strip() if index + span - 1 < len(lines) else ""
            if not line or line.startswith(">") or candidate[-1] in ".!?:":
                return 0
            candidate += " " + line
        if len(candidate) > 300:
            return 0
        if (
            candidate.endswith(":")
            and _ATTRIBUTION.fullmatch(candidate)
            and (_STRONG.search(candidate) or _quote_follows(lines, index + span))
        ):
            return span
    return 0


def _quote_follows(lines: list[str], index: int) -> bool:
    return _next_text(lines, index, quoted=False).startswith(">")


def _interleaved(lines: list[str], index: int) -> bool:
    """Whether new text follows the ">" lines that follow ``index``."""
    return _quote_follows(lines, index) and bool(_next_text(lines, index, quoted=True))


def _next_text(lines: list[str], index: int, *, quoted: bool) -> str:
    """The first non-blank line from ``index`` on (skipping ">" lines if ``quoted``), or ""."""
    for position in range(index, len(lines)):  # no slice: that would copy the rest each time
        line = lines[position].strip()
        if line and not (quoted and line.startswith(">")):
            return line
    return ""


def _drop_quote_lines(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    start = end
    while start and (not lines[start - 1].strip() or lines[start - 1].lstrip().startswith(">")):
        start -= 1
    if start < end and start and _LOOSE_ATTRIBUTION.fullmatch(lines[start - 1].strip()):
        start -= 1
    return [line for line in lines[:start] if not line.lstrip().startswith(">")]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_DROPPED_TAGS = _words(
    "script style head title template noscript iframe object svg math applet noembed noframes"
    " frameset xml"
)
_HEAD_TAGS = _words("html head meta link title style script base noscript template")
_VOID_TAGS = _words("area base br col embed hr img input link meta param source track wbr")
_PARAGRAPHS = _words("p h1 h2 h3 h4 h5 h6 blockquote pre ul ol dl")
_BLOCKS = _words(
    "div li tr table hr section article header footer nav aside address dt dd figure figcaption"
    " form fieldset main center caption details summary body"
)
# What mail clients mark as the quoted e-mail or a signature, by class and by id.
_QUOTE_CLASSES = _words(
    "gmail_quote gmail_quote_container gmail_signature gmail_signature_prefix moz-cite-prefix"
    " moz-signature yahoo_quoted"
)
_QUOTE_IDS = frozenset(("signature", "ms-outlook-mobile-signature"))
_STOP_IDS = frozenset(("appendonsend", "divrplyfwdmsg"))  # Outlook: the quote follows these
_HIDDEN = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all", re.IGNORECASE)
_SHOWN_URL = re.compile(r"(?:https?|mailto):[^\s<>\"'`\\]{1,2000}", re.IGNORECASE)
_COLLAPSIBLE = re.compile(r"[ \t\n\r\f]+")
_URL_NOISE = re.compile(r"^(?:https?://|mailto:)|/+$", re.IGNORECASE)
# "<![foo …" makes the stdlib parser raise; browsers read it as a comment up to ">", as
# the parser does "<!foo …".
_MARKED_SECTION = re.compile(
    r"<!\[(?!(?:temp|cdata|ignore|include|rcdata|if|else|endif)(?![-_.a-zA-Z0-9]))", re.IGNORECASE
)


def html_to_text(html: str) -> str:
    """The text a reader sees of ``html``, without what mail clients mark as quoted or as a
    signature. Never raises; nothing of the markup survives as markup."""
    parser = _TextParser()
    try:
        parser.feed(_MARKED_SECTION.sub("<!", html))
    except AssertionError:  # the stdlib parser gave up on the rest: what it read stays read
        parser.rawdata = ""
    if parser.rawdata.startswith("<"):  # the input ends inside a tag: browsers show none of it
        parser.rawdata = ""
    with contextlib.suppress(AssertionError):
        parser.close()
    return parser.text()


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        # The open elements and the line break each makes; a list, so depth costs no recursion.
        self._stack: list[tuple[str, int]] = []
        self._open: dict[str, int] = {}
        self._dropped_at: int | None = None  # depth of the element being left out
        self._stopped = False
        self._pending = 0  # 1: a line break is due, 2: a blank line
        self._space = False
        self._newlines = 0  # at the end of the output
        self._pre = 0
        self._anchor: tuple[str | None, int] | None = None

    def text(self) -> str:
        self._end_anchor()
        return _tidy("".join(self._parts).replace("\xa0", " "))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # "<div/>" opens a div in HTML, as in browsers

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._stopped:
            return
        if self._open.get("head") and tag not in _HEAD_TAGS:
            self.handle_endtag("head")  # body content closes an unclosed head
        found = {name: value or "" for name, value in attrs}
        if found.get("id", "").lower() in _STOP_IDS:
            self._stopped = True
            return
        if tag in _VOID_TAGS:
            if self._dropped_at is None:
                self._void(tag, found)
            return
        level = _line_break(tag, found.get("class", ""))
        self._stack.append((tag, level))
        self._open[tag] = self._open.get(tag, 0) + 1
        if self._dropped_at is not None:
            return
        if tag in _DROPPED_TAGS or _marked(tag, found):
            self._dropped_at = len(self._stack) - 1
            return
        self._pending = max(self._pending, level)
        if tag == "li":
            self._emit("-")
            self._space = True
        elif tag in ("td", "th"):
            self._space = bool(self._parts)
        elif tag == "pre":
            self._pre += 1
        elif tag == "a":
            self._end_anchor()
            self._anchor = (found.get("href"), len(self._parts))

    def handle_endtag(self, tag: str) -> None:
        if self._stopped:
            return
        if tag == "br":
            self.handle_starttag(tag, [])
            return
        if not self._open.get(tag):
            return  # a stray end tag
        while self._stack:
            name, level = self._stack.pop()
            self._open[name] -= 1
            if self._dropped_at is None:
                self._pending = max(self._pending, level)
                if name == "pre":
                    self._pre -= 1
                elif name == "a":
                    self._end_anchor()
            elif len(self._stack) == self._dropped_at:
                self._dropped_at = None
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        if self._stopped or self._dropped_at is not None:
            return
        if self._pre:
            self._emit(data.replace("\r\n", "\n").replace("\r", "\n"))
            return
        text = _COLLAPSIBLE.sub(" ", data)
        self._space = self._space or text.startswith(" ")
        if text.strip(" "):
            self._emit(text.strip(" "))
            self._space = text.endswith(" ")

    def _void(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == "br":
            self._emit("\n")
        elif tag == "hr":
            self._pending = max(self._pending, 1)
        elif tag == "img" and attrs.get("alt", "").strip():
            self.handle_data(attrs["alt"].strip())

    def _emit(self, text: str) -> None:
        if self._parts and self._pending > self._newlines:
            self._parts.append("\n" * (self._pending - self._newlines))
        elif self._parts and self._space and not self._pending and not self._newlines:
            self._parts.append(" ")
        self._pending, self._space = 0, False
        self._parts.append(text)
        stripped = text.rstrip("\n")
        newlines = len(text) - len(stripped)
        self._newlines = newlines if stripped else self._newlines + newlines

    def _end_anchor(self) -> None:
        if self._anchor is None:
            return
        href, start = self._anchor
        self._anchor = None
        url = (href or "").strip()
        if not _SHOWN_URL.fullmatch(url):
            return
        label = "".join(self._parts[start:]).strip()
        if label and _URL_NOISE.sub("", url.lower()) != _URL_NOISE.sub("", label.lower()):
            self._space = True
            self._emit(f"({url})")


def _line_break(tag: str, classes: str) -> int:
    """2 for an element with margins (a blank line around it), 1 for another block."""
    if tag in _PARAGRAPHS and "msonormal" not in classes.lower():  # Word's p has no margins
        return 2
    return 1 if tag in _BLOCKS or tag == "p" else 0


def _marked(tag: str, attrs: dict[str, str]) -> bool:
    """Whether a mail client marked the element as quoted or as a signature, or it is hidden."""
    return (
        not _QUOTE_CLASSES.isdisjoint(attrs.get("class", "").lower().split())
        or attrs.get("id", "").lower() in _QUOTE_IDS
        or attrs.get("data-smartmail") == "gmail_signature"
        or (tag == "blockquote" and attrs.get("type", "").lower() == "cite")
        or "hidden" in attrs
        or bool(_HIDDEN.search(attrs.get("style", "")))
    )
