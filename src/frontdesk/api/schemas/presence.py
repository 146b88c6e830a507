"""Bodies of ``routes/presence.py``: an agent's devices, the status each reports and the
heartbeats that keep it online."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from frontdesk.api.schemas.common import Request, Response
from frontdesk.core.model import DeviceKind, DeviceStatus

DeviceKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$"),
]


class DeviceOut(Response):
    device_id: str
    kind: DeviceKind
    status: DeviceStatus
    last_seen_at: datetime
    # Whether this device makes its agent online now: status online and still connected.
    online: bool


class StatusIn(Request):
    status: DeviceStatus
    device_id: DeviceKey | None = None


class HeartbeatIn(Request):
    kind: DeviceKind
    status: DeviceStatus


class PresenceOut(Response):
    online: bool
    devices: list[DeviceOut]
