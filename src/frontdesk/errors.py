"""The one error hierarchy of Frontdesk.

Services raise these; the API maps them to HTTP in one place (``frontdesk.api.errors``) as
``{"error": {"code", "message"}}``. ``code`` is stable and machine-readable, ``message`` is
for people and says what to do.
"""

from __future__ import annotations

from typing import ClassVar


class FrontdeskError(Exception):
    """Base of every error a caller can cause and be told about."""

    http_status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class InvalidInput(FrontdeskError):
    http_status = 422
    default_code = "invalid_input"


class NotAuthenticated(FrontdeskError):
    http_status = 401
    default_code = "not_authenticated"


class PermissionDenied(FrontdeskError):
    http_status = 403
    default_code = "permission_denied"


class PlanLacksFeature(FrontdeskError):
    http_status = 403
    default_code = "plan_lacks_feature"


class NotFound(FrontdeskError):
    http_status = 404
    default_code = "not_found"


class Conflict(FrontdeskError):
    http_status = 409
    default_code = "conflict"


class PayloadTooLarge(FrontdeskError):
    http_status = 413
    default_code = "payload_too_large"


class TooManyRequests(FrontdeskError):
    """Answered 429 with ``Retry-After``: the caller may try again after ``retry_after``
    seconds (rounded up to a whole second in the header)."""

    http_status = 429
    default_code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
