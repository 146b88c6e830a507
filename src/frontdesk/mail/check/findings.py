"""What the checks of ``frontdesk mail check`` say: a ``Finding`` per thing checked, with
its ``Status``, a sentence in plain words, why it matters, and the ``DnsRecord`` to publish."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    INFO = "info"  # nothing to fix; something the deployer should know
    WARNING = "warning"  # works, but receivers trust the mail less than they could
    MISSING = "missing"  # a record or setting that must exist does not
    WRONG = "wrong"  # it exists and receivers will reject or distrust the mail because of it
    UNCHECKED = "unchecked"  # DNS did not answer, so nobody can tell

    @property
    def needs_fixing(self) -> bool:
        return self in (Status.MISSING, Status.WRONG, Status.UNCHECKED)


class Check(StrEnum):
    SENDER = "sender"
    SPF = "SPF"
    DKIM = "DKIM"
    DMARC = "DMARC"
    ALIGNMENT = "alignment"
    BOUNCES = "bounces"
    REPLIES = "replies"
    LINKS = "links"
    TEST_EMAIL = "test e-mail"


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """A record to publish, as a DNS provider's form asks for it."""

    name: str
    type: str
    value: str

    def zone_line(self) -> str:
        """The same record for a zone file, where a TXT string holds at most 255 bytes."""
        if self.type != "TXT":
            return f"{self.name}. IN {self.type} {self.value}"
        chunks = [self.value[i : i + 255] for i in range(0, len(self.value), 255)] or [""]
        return f"{self.name}. IN TXT " + " ".join(f'"{chunk}"' for chunk in chunks)


@dataclass(frozen=True, slots=True)
class Finding:
    check: Check
    status: Status
    summary: str  # one sentence: what is the case
    explanation: str = ""  # why it matters and what to do, in plain words
    publish: DnsRecord | None = None
    found: str = ""  # the record as published now, when there is one

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check.value,
            "status": self.status.value,
            "summary": self.summary,
            "explanation": self.explanation,
            "found": self.found or None,
            "publish": None
            if self.publish is None
            else {
                "name": self.publish.name,
                "type": self.publish.type,
                "value": self.publish.value,
                "zone_line": self.publish.zone_line(),
            },
        }
