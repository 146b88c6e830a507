"""Settings come from FRONTDESK_* variables and an optional TOML file, durations in
(fractional) seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from frontdesk.settings import Settings, parse_limit


def test_defaults_follow_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRONTDESK_CONFIG_FILE", raising=False)
    settings = Settings()
    assert settings.offline_email_delay == 120
    assert settings.visitor_left_after == 30
    assert settings.agent_device_timeout == 60
    assert settings.smtp_retry_base == 30
    assert settings.smtp_retry_for == 172_800
    assert settings.effective_database_url.startswith("sqlite:///")


def test_environment_variables_accept_fractions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDESK_OFFLINE_EMAIL_DELAY", "0.25")
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", "postgresql://db.internal/frontdesk")
    settings = Settings()
    assert settings.offline_email_delay == 0.25
    assert settings.effective_database_url == "postgresql+psycopg://db.internal/frontdesk"


def test_a_config_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text('offline_email_delay = 90\nmail_from = "Help <help@shop.example>"\n')
    monkeypatch.setenv("FRONTDESK_CONFIG_FILE", str(config))
    monkeypatch.setenv("FRONTDESK_OFFLINE_EMAIL_DELAY", "45")
    settings = Settings()
    assert settings.mail_from == "Help <help@shop.example>"
    assert settings.offline_email_delay == 45


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRONTDESK_OFFLINE_EMAIL_DELAY", "0"),
        ("FRONTDESK_VISITOR_LEFT_AFTER", "-1"),
        ("FRONTDESK_AGENT_DEVICE_TIMEOUT", "soon"),
        ("FRONTDESK_SMTP_RETRY_FOR", "10"),  # shorter than the first retry
        ("FRONTDESK_DKIM_SELECTOR", "mail"),  # without domain and key
        ("FRONTDESK_DELIVERY_LEASE", "45"),  # shorter than two SMTP attempts of 30 s
        ("FRONTDESK_SMTP_URL", "http://mail.example.com"),
        ("FRONTDESK_SMTP_URL", "smtp://"),
        ("FRONTDESK_SMTP_URL", "smtp://mail.example.com:99999"),
        ("FRONTDESK_SMTP_URL", "smtp://mail.example.com?starttls=maybe"),
        ("FRONTDESK_SMTP_URL", "smtps://mail.example.com?starttls=require"),
        ("FRONTDESK_SMTP_URL", "smtp://mail.example.com?tls=1"),
        ("FRONTDESK_MAIL_CATCHER_PORT", "70000"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_a_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FRONTDESK_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ValueError, match="no such file"):
        Settings()


def test_an_smtp_url_with_credentials_is_understood() -> None:
    from frontdesk.mail.transport import SmtpTarget

    url = "smtps://frontdesk%40shop.example:s%3Acret@mail.shop.example"
    assert Settings(smtp_url=url).smtp_url == url
    target = SmtpTarget.parse(url)
    assert (target.host, target.port, target.implicit_tls) == ("mail.shop.example", 465, True)
    assert (target.username, target.password) == ("frontdesk@shop.example", "s:cret")
    plain = SmtpTarget.parse("smtp://relay.internal")
    assert (plain.port, plain.implicit_tls, plain.username) == (25, False, None)


def test_every_default_rate_limit_parses() -> None:
    """A limit left at its default is not parsed when the settings are read (a worker then
    never imports the ``limits`` library), so each default must be one it takes; a value
    of the operator's still is parsed at once."""
    limits = [name for name in Settings.model_fields if name.startswith("rate_limit_")]
    assert len(limits) == 7
    for name in limits:
        default = Settings.model_fields[name].default
        assert parse_limit(default) is not None, name
    with pytest.raises(ValidationError, match="is not a rate limit"):
        Settings(rate_limit_messages_per_visitor="200 a minute")
