"""The one place where errors become HTTP responses: ``{"error": {"code", "message"}}``.

Frontdesk's own errors carry their status and code; request validation becomes 400
``invalid_json`` or 422 ``invalid_input`` with the offending fields; routing errors keep their
status. A database that cannot be used just now (down, restarting, every connection taken)
is answered 503 ``database_unavailable`` with ``Retry-After``, and logged as one line per
outage, not a traceback per request. Anything else is a bug: it is logged with its traceback
and answered with a bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from frontdesk.errors import FrontdeskError, TooManyRequests
from frontdesk.store.database import WriteTurnTimeout, unavailable

log = logging.getLogger("frontdesk.api")
# While the database stays away, one line this often says how many requests it refused.
OUTAGE_LOG_EVERY = 10.0

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        body["retry_after"] = max(1, math.ceil(retry_after))
        headers["Retry-After"] = str(body["retry_after"])
    return JSONResponse({"error": body}, status_code=status, headers=headers or None)


def frontdesk_error_response(error: FrontdeskError) -> JSONResponse:
    retry_after = error.retry_after if isinstance(error, TooManyRequests) else None
    return error_response(error.http_status, error.code, error.message, retry_after=retry_after)


class _OutageLog:
    """The first refusal of an outage says why, in one line without a traceback (the
    driver's words only: a statement's parameters may hold a token); then one line every
    ``OUTAGE_LOG_EVERY`` seconds while refusals go on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logged_at: float | None = None
        self._refused = 0

    def refused(self, error: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self._refused += 1
            if self._logged_at is not None and now - self._logged_at < OUTAGE_LOG_EVERY:
                return
            refused, self._refused, self._logged_at = self._refused, 0, now
        cause = getattr(error, "orig", None) or error
        words = str(cause).strip().splitlines()
        log.warning(
            "the database is unavailable (%s: %s); answered %d request(s) 503",
            type(cause).__name__,
            words[0][:200] if words else "",
            refused,
        )


_outages = _OutageLog()


def database_unavailable_response(error: BaseException, *, retry_after: float) -> JSONResponse:
    _outages.refused(error)
    return error_response(
        503,
        "database_unavailable",
        "The database cannot be reached just now; nothing was changed. Try again shortly.",
        retry_after=retry_after,
    )


def bug_response(method: str, path: str) -> JSONResponse:
    log.exception("unhandled error on %s %s", method, path)
    return error_response(500, "internal_error", "Something went wrong on the server.")


def unexpected_error_response(
    error: BaseException, method: str, path: str, *, retry_after: float
) -> JSONResponse:
    """The answer to an error no handler expected: a database that is away (503), else a
    bug (500). Call it from an ``except`` block: a bug's traceback is logged."""
    if unavailable(error):
        return database_unavailable_response(error, retry_after=retry_after)
    return bug_response(method, path)


def install_error_handlers(app: FastAPI, *, retry_after: float) -> None:
    @app.exception_handler(FrontdeskError)
    async def _frontdesk_error(_request: Request, exc: FrontdeskError) -> JSONResponse:
        return frontdesk_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "invalid_json", "The request body is not valid JSON.")
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in errors
        ]
        first = details[0] if details else {"field": "", "problem": "invalid"}
        return error_response(
            422,
            "invalid_input",
            f"{first['field'] or 'request'}: {first['problem']}",
            details=details,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES_BY_STATUS.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(
            exc, request.method, request.url.path, retry_after=retry_after
        )

    # Raised inside the routes: answered there, and the connection serves the next request.
    app.add_exception_handler(SQLAlchemyError, _unexpected)
    app.add_exception_handler(WriteTurnTimeout, _unexpected)
    # Anything else, from the routes or the layers around them.
    app.add_exception_handler(Exception, _unexpected)
