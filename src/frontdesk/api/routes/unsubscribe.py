"""One-click unsubscribe (RFC 8058) for the links in notification e-mails.

``GET`` shows a page that asks, and changes nothing: mail scanners and link previews open
links, and opening one must not switch anything off. ``POST`` switches that kind of e-mail
off for the agent the link was sent to — mail clients send it on their own when the reader
clicks "unsubscribe" (``List-Unsubscribe-Post: List-Unsubscribe=One-Click``), and the
page's button sends it too. The signed token is the only credential: the reader is not
logged in, and need not be.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from frontdesk.api.deps import RuntimeDep
from frontdesk.mail.compose import unsubscribe_page
from frontdesk.mail.identifiers import profile_link
from frontdesk.service import agents
from frontdesk.service.runtime import Runtime

router = APIRouter(tags=["notifications"])
Token = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "The link is not valid, or its agent no longer exists."}
}


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, responses=_NOT_FOUND)
def ask_to_unsubscribe(token: Token, request: Request, rt: RuntimeDep) -> HTMLResponse:
    """The page behind an e-mail's unsubscribe link: it asks, and changes nothing."""
    return _page(rt, request, agents.unsubscribe(rt, token, confirm=False))


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, responses=_NOT_FOUND)
def unsubscribe(token: Token, request: Request, rt: RuntimeDep) -> HTMLResponse:
    """Switch this kind of e-mail off for the agent the link was sent to (RFC 8058 one-click;
    the body, ``List-Unsubscribe=One-Click``, is not needed)."""
    return _page(rt, request, agents.unsubscribe(rt, token, confirm=True))


def _page(rt: Runtime, request: Request, result: agents.Unsubscribed) -> HTMLResponse:
    base_url = rt.settings.public_url.rstrip("/")
    html = unsubscribe_page(
        locale=result.locale,
        kind=result.kind,
        email=result.email,
        done=result.done,
        action_url=request.url.path,
        dashboard_url=profile_link(base_url),
    )
    return HTMLResponse(
        html,
        headers={
            # The page holds the agent's address: not for caches or other sites' frames.
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'",
        },
    )
