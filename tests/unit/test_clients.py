"""The client's address: from the connection, or from a trusted proxy's header."""

from __future__ import annotations

from typing import Any

import pytest

from frontdesk.api.clients import ClientAddresses, from_this_machine
from frontdesk.settings import Settings


def scope(peer: str, **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 51000),
        "headers": [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()],
    }


PROXIES = ClientAddresses(["127.0.0.1", "::1", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        # Direct: the peer, whatever it claims.
        ("198.51.100.7", {}, "198.51.100.7"),
        ("198.51.100.7", {"X-Forwarded-For": "203.0.113.9"}, "198.51.100.7"),
        ("198.51.100.7", {"Forwarded": "for=203.0.113.9"}, "198.51.100.7"),
        # Through trusted proxies: right to left, the first that is not trusted.
        ("10.1.2.3", {"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"),
        ("10.1.2.3", {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.5"}, "203.0.113.9"),
        ("127.0.0.1", {"Forwarded": 'for="[2001:db8::17]:4711";proto=https'}, "2001:db8::17"),
        ("127.0.0.1", {"Forwarded": "for=192.0.2.60:80, for=10.9.9.9"}, "192.0.2.60"),
        ("::1", {"Forwarded": "for=unknown"}, "unknown"),
        # Forwarded wins over X-Forwarded-For; X-Real-IP is never believed.
        ("10.1.2.3", {"Forwarded": "for=192.0.2.1", "X-Forwarded-For": "192.0.2.2"}, "192.0.2.1"),
        ("10.1.2.3", {"X-Real-IP": "203.0.113.9"}, "10.1.2.3"),
        # Only trusted proxies all the way: the leftmost.
        ("10.1.2.3", {"X-Forwarded-For": "10.0.0.9, 10.0.0.8"}, "10.0.0.9"),
    ],
)
def test_the_client_is_the_first_hop_not_trusted(
    peer: str, headers: dict[str, str], client: str
) -> None:
    request = scope(peer, **headers)
    PROXIES.resolve(request)
    assert request["client"][0] == client


def test_nobody_trusted_means_every_header_is_ignored() -> None:
    request = scope("127.0.0.1", X_Forwarded_For="203.0.113.9")
    ClientAddresses([]).resolve(request)
    assert request["client"] == ("127.0.0.1", 51000)


@pytest.mark.parametrize(
    ("peer", "headers", "local"),
    [
        ("127.0.0.1", {}, True),
        ("::1", {}, True),
        ("198.51.100.7", {}, False),
        ("127.0.0.1", {"X-Real-IP": "127.0.0.1"}, False),
        ("127.0.0.1", {"Via": "1.1 proxy"}, False),
        ("127.0.0.1", {"X-Forwarded-Host": "shop.example"}, False),
        ("testclient", {}, False),
    ],
)
def test_from_this_machine_only_directly_over_loopback(
    peer: str, headers: dict[str, str], local: bool
) -> None:
    request = scope(peer, **headers)
    PROXIES.resolve(request)
    assert from_this_machine(request) is local


def test_a_scope_never_resolved_is_not_from_this_machine() -> None:
    assert not from_this_machine(scope("127.0.0.1"))


def test_trusted_proxies_come_comma_separated_and_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRONTDESK_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    assert Settings().trusted_proxies == ["10.0.0.0/8", "192.0.2.1"]
    monkeypatch.setenv("FRONTDESK_TRUSTED_PROXIES", "10.0.0.0/8,nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        Settings()
