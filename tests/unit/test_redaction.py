"""What a log line may not carry: tokens and secret fields, whoever logs them."""

from __future__ import annotations

import logging

import pytest

from frontdesk.security import RedactSecrets, redact


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("GET /x?token=fda_abcDEF123-_x&device_id=a", "GET /x?token=…redacted&device_id=a"),
        ("visitor_token=fdv_zzzzzzzz", "visitor_token=…redacted"),
        ("Bearer fda_Q2hhdHRpbmc", "Bearer fda_…redacted"),
        ("protocol frontdesk.token.fdv_abcdefgh", "protocol frontdesk.token.fdv_…redacted"),
        ("password=hunter22&current_password=x", "password=…redacted&current_password=…redacted"),
        ("an ordinary line", "an ordinary line"),
    ],
)
def test_tokens_and_secret_fields_are_redacted(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_the_filter_redacts_the_message_and_its_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", "/api/v1/agent/ws?token=fda_secretsecret"),
        None,
    )
    assert RedactSecrets().filter(record)
    assert (
        record.getMessage()
        == '127.0.0.1:5 - "WebSocket /api/v1/agent/ws?token=…redacted" [accepted]'
    )
