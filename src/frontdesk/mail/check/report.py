"""The findings as a deployer reads them: what was checked, each finding with the record to
publish on one line to be copied, and a summary line (``--json`` is ``Finding.as_json``)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from frontdesk.mail.check.findings import Finding, Status
from frontdesk.mail.check.mail_setup import MailSetup

_LABELS = {
    Status.OK: "OK",
    Status.INFO: "NOTE",
    Status.WARNING: "WARNING",
    Status.MISSING: "MISSING",
    Status.WRONG: "WRONG",
    Status.UNCHECKED: "UNCHECKED",
}


def setup_lines(
    setup: MailSetup, *, relay: str | None, nameserver: str | None
) -> list[tuple[str, str]]:
    """What was checked, for the head of the report."""
    envelope = setup.envelope_address.replace("@", "+<token>@")
    dkim = (
        f"selector {setup.dkim_selector} at {setup.dkim_domain} ({setup.dkim_private_key_file})"
        if setup.dkim_domain
        else "not configured"
    )
    return [
        ("From", setup.mail_from),
        ("Envelope sender", f"{envelope} (bounces come back here)"),
        ("DKIM", dkim),
        ("Relay", relay or "none: the built-in mail catcher (FRONTDESK_SMTP_URL is not set)"),
        ("DNS", f"name server {nameserver}" if nameserver else "this machine's resolver"),
    ]


def render_text(findings: Sequence[Finding], *, header: Sequence[tuple[str, str]] = ()) -> str:
    """The findings as a deployer reads them; records stay on one line to be copied."""
    lines: list[str] = []
    width = max((len(label) for label, _ in header), default=0)
    lines.extend(f"{label + ':':<{width + 1}} {value}" for label, value in header)
    if header:
        lines.append("")
    indent = " " * 10
    for finding in findings:
        label = f"{_LABELS[finding.status]:<9} {finding.check.value}: {finding.summary}"
        lines.extend(_wrap(label, then=indent))
        if finding.found:
            lines.append(f"{indent}Published now: {finding.found}")
        if finding.explanation:
            lines.extend(_wrap(finding.explanation, first=indent, then=indent))
        if finding.publish is not None:
            record = finding.publish
            lines.append(f"{indent}Publish this {record.type} record:")
            lines.append(f"{indent}  name:  {record.name}")
            lines.append(f"{indent}  value: {record.value}")
        lines.append("")
    lines.append(summary_line(findings))
    return "\n".join(lines)


def _wrap(text: str, *, first: str = "", then: str = "") -> list[str]:
    # Paths, addresses and records are never cut: a deployer copies them.
    return textwrap.wrap(
        text,
        92,
        initial_indent=first,
        subsequent_indent=then,
        break_long_words=False,
        break_on_hyphens=False,
    )


def summary_line(findings: Sequence[Finding]) -> str:
    to_fix = sum(f.status.needs_fixing for f in findings)
    warnings = sum(f.status is Status.WARNING for f in findings)
    if not to_fix and not warnings:
        return "Everything is in place."
    parts = []
    if to_fix:
        parts.append(f"{to_fix} thing{'s' if to_fix != 1 else ''} to fix")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts) + "."
