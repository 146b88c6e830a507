"""The one place where errors become HTTP responses: ``{"error": {"code", "message"}}``.

Frontdesk's own errors carry their status and code; request validation becomes 400
``invalid_json`` or 422 ``invalid_input`` with the offending fields; routing errors keep their
status. Anything else is a bug: it is logged with its traceback and answered with a bare 500
that reveals nothing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from frontdesk.errors import FrontdeskError, TooManyRequests

log = logging.getLogger("frontdesk.api")

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


def install_error_handlers(app: FastAPI) -> None:
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

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "Something went wrong on the server.")
