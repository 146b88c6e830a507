"""What every body of the HTTP API is made of: the request, PATCH and response bases, the
field types several routes share with the input limits of the product, and the error body.

Requests forbid unknown keys. A PATCH body changes only the keys it sends; sending ``null``
for a key that cannot be empty is an error rather than a silent no-op.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

MAX_ID = 2**63 - 1
MESSAGE_TEXT_MAX = 10_000
NAME_MAX = 200


def _no_control_characters(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters (line breaks, tabs, NUL)")
    return value


def _contains_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in data.items())
    if isinstance(data, list | tuple):
        return any(_contains_nul(item) for item in data)
    return False


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only white space")
    return value


# Booleans and ids are strict: "no" or 1 is not a boolean and "5" is not an id; a client that
# sends them has a bug it should hear about rather than a guess.
Flag = Annotated[bool, Field(strict=True)]
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
# Widget keys are made by ``frontdesk.security.new_widget_key`` (URL-safe base64).
WIDGET_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(_no_control_characters),
]


def _mailable(value: str) -> str:
    """An address the mail writer can put in a header and any SMTP server accepts: ASCII
    before the @ (no SMTPUTF8 end to end yet: refused at input rather than failing at every
    send for 48 hours), an internationalised domain in its ASCII form (``xn--…``), and no
    ``=?``, which a mail client would read as an encoded word."""
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ValueError(f"not an e-mail address Frontdesk can write to: {error}") from None
    address: str = checked.ascii_email or checked.normalized
    if "=?" in address:
        raise ValueError("an e-mail address may not contain '=?'")
    return address


Email = Annotated[
    str,
    Field(max_length=320, json_schema_extra={"format": "email"}),
    AfterValidator(_mailable),
]
Password = Annotated[
    str, Field(min_length=8, max_length=200), AfterValidator(_no_control_characters)
]
MessageText = Annotated[
    str, Field(min_length=1, max_length=MESSAGE_TEXT_MAX), AfterValidator(_not_blank)
]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _reject_nul(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL in text, and no field of Frontdesk has a use for it:
        # refused here once, for every string of every body, nested or not.
        if _contains_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class Patch(Request):
    # Keys for which ``null`` is a value ("back to the default") rather than a mistake.
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _reject_null(self) -> Patch:
        for key in self.model_fields_set - self.nullable:
            if getattr(self, key) is None:
                raise ValueError(f"{key} cannot be null; leave it out to keep it unchanged")
        return self

    def sent(self) -> dict[str, Any]:
        """The keys the client sent, with their validated values."""
        return {key: getattr(self, key) for key in self.model_fields_set}


class Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# The body of every error answer as ``frontdesk.api.errors`` writes it; the OpenAPI document
# names it for each error status.
class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorOut(BaseModel):
    error: ErrorBody
