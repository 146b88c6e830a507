"""The development mailbox at ``/dev/mail``: what the built-in mail catcher received, in the
browser, so a new installation shows its notification e-mails without a mail server.

It exists only on the embedded default (no ``FRONTDESK_SMTP_URL``) and answers only
requests from this machine, not through a proxy (``frontdesk.api.clients``): the e-mails
hold visitors' messages and unsubscribe links.
An e-mail's HTML is served from its own URL under a CSP sandbox, and shown in a sandboxed
frame, so nothing in it runs or loads anything.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from frontdesk.api.clients import from_this_machine
from frontdesk.api.deps import RuntimeDep
from frontdesk.errors import NotFound
from frontdesk.mail.catcher import CaughtMail, caught_mail, one_caught_mail
from frontdesk.service.runtime import Runtime

BASE = "/dev/mail"
router = APIRouter(prefix=BASE, include_in_schema=False)
Key = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._,=-]+$")]
SHOWN_HEADERS = (
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "Return-Path",
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-src 'self'; frame-ancestors 'none'",
}


@router.get("")
def list_caught(request: Request, rt: RuntimeDep) -> HTMLResponse:
    directory = _mailbox(request, rt)
    html = _template().render(
        base=BASE, mail=None, mails=caught_mail(directory), directory=str(directory)
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


@router.get("/{key}")
def show_caught(key: Key, request: Request, rt: RuntimeDep) -> HTMLResponse:
    mail = _one(request, rt, key)
    message = mail.message
    headers = [(name, str(message[name])) for name in SHOWN_HEADERS if message[name] is not None]
    if message["DKIM-Signature"] is not None:
        headers.append(("DKIM-Signature", "signed"))
    html = _template().render(
        base=BASE,
        mail=mail,
        headers=headers,
        has_html=mail.body("html") is not None,
        text=mail.body("plain"),
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


@router.get("/{key}/html")
def caught_html(key: Key, request: Request, rt: RuntimeDep) -> HTMLResponse:
    html = _one(request, rt, key).body("html")
    if html is None:
        raise NotFound("This e-mail has no HTML part.", code="mail_part_not_found")
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-store",
            # Shown as the e-mail's reader would see it, with nothing active: no scripts,
            # no forms, no requests to anywhere.
            "Content-Security-Policy": "sandbox; default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:",
        },
    )


@router.get("/{key}/raw")
def caught_raw(key: Key, request: Request, rt: RuntimeDep) -> Response:
    return Response(
        _one(request, rt, key).raw,
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def _mailbox(request: Request, rt: Runtime) -> FilePath:
    if rt.settings.smtp_url:
        raise NotFound(
            "There is no development mailbox: e-mail goes to FRONTDESK_SMTP_URL.",
            code="mailbox_unavailable",
        )
    if not from_this_machine(request.scope):
        raise NotFound(
            "The development mailbox answers only requests from this machine.",
            code="mailbox_unavailable",
        )
    return rt.settings.mail_dir


def _one(request: Request, rt: Runtime, key: str) -> CaughtMail:
    mail = one_caught_mail(_mailbox(request, rt), key)
    if mail is None:
        raise NotFound("The catcher has no e-mail by that key.", code="mail_not_found")
    return mail


@cache
def _template() -> Template:
    environment = Environment(
        loader=FileSystemLoader(FilePath(__file__).parents[1] / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("mailbox.html")
