"""Bodies of the Web Push routes: a browser's subscription as ``PushSubscription.toJSON()``
gives it, and what the profile lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from frontdesk.api.schemas.common import Name, Request, Response
from frontdesk.api.schemas.presence import DeviceKey
from frontdesk.push.webpush import ENDPOINT_MAX, PushResult

_Base64Url = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+=*$")
]


class PushKeysIn(Request):
    p256dh: _Base64Url
    auth: _Base64Url


class PushSubscriptionIn(Request):
    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=ENDPOINT_MAX)]
    keys: PushKeysIn
    # toJSON() carries it; push services that end subscriptions say so with 404/410.
    expirationTime: float | None = None
    # How the profile names the browser or phone ("Chrome on Android").
    device_name: Name = "Browser"
    # The dashboard's device (its presence), if the subscription was made in the dashboard.
    device_id: DeviceKey | None = None


class PushSubscriptionOut(Response):
    id: int
    endpoint: str
    device_name: str
    device_id: str | None = Field(validation_alias="device_key")
    created_at: datetime
    last_pushed_at: datetime | None
    # What its push service answered to the last push: the HTTP status and its words.
    last_status: int | None
    last_answer: str | None


class VapidKeyOut(Response):
    # The applicationServerKey of PushManager.subscribe(): P-256, uncompressed, base64url.
    public_key: str


class TestPushOut(Response):
    subscription_id: int
    device_name: str
    result: PushResult
    status: int | None
    answer: str
