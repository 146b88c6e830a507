"""A ``frontdesk worker``'s ``/metrics`` (frontdesk.metrics.serve_metrics): the serve's rule
for who may read them, on a port of its own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2 as httpx
import pytest

from frontdesk import metrics


@pytest.fixture
def with_token() -> Iterator[str]:
    served = metrics.serve_metrics("127.0.0.1", 0, "s3cret-token")
    try:
        yield f"http://127.0.0.1:{served.port}"
    finally:
        served.stop()


def test_the_bearer_of_the_token_reads_the_counters(with_token: str) -> None:
    metrics.delivery_attempted("sent")
    answer = httpx.get(f"{with_token}/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert 'frontdesk_delivery_attempts_total{result="sent"}' in answer.text


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "s3cret-token"])
def test_anyone_else_gets_a_json_error_and_no_counters(
    with_token: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = httpx.get(f"{with_token}/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_token"
    assert "frontdesk_" not in answer.text


def test_without_a_token_this_machine_reads_them_and_nothing_else_is_served() -> None:
    served = metrics.serve_metrics("127.0.0.1", 0, None)
    try:
        base = f"http://127.0.0.1:{served.port}"
        assert httpx.get(f"{base}/metrics").status_code == 200
        # A proxy on this machine forwards requests from elsewhere over loopback.
        forwarded = httpx.get(f"{base}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert forwarded.status_code == 404
        assert forwarded.json()["error"]["code"] == "metrics_unavailable"
        other = httpx.get(f"{base}/api/v1/me")
        assert other.status_code == 404
        assert other.json()["error"]["code"] == "not_found"
        assert httpx.post(f"{base}/metrics").status_code == 404
    finally:
        served.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/metrics", timeout=2)
