"""Passwords and tokens."""

from __future__ import annotations

import subprocess
import sys

from frontdesk.security import AGENT_TOKEN_PREFIX, PasswordHasher, new_token, token_digest


def test_a_password_verifies_only_against_its_own_hash() -> None:
    hasher = PasswordHasher("fast")
    stored = hasher.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert hasher.verify(stored, "correct horse")
    assert not hasher.verify(stored, "correct horsE")


def test_an_unknown_user_never_verifies() -> None:
    hasher = PasswordHasher("fast")
    assert not hasher.verify(None, "anything")
    assert not hasher.verify("not-a-hash", "anything")


def test_tokens_are_random_and_stored_only_as_digests() -> None:
    a, b = new_token(AGENT_TOKEN_PREFIX), new_token(AGENT_TOKEN_PREFIX)
    assert a != b
    assert a.startswith(AGENT_TOKEN_PREFIX)
    assert len(token_digest(a)) == 64
    assert a not in token_digest(a)


def test_a_process_that_checks_no_password_never_hashes_one() -> None:
    """The decoy of unknown addresses is made at the first login, not at start: a standard
    hash takes 64 MiB, which a worker would otherwise hold as its peak memory."""
    peaks = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pathlib import Path\n"
            "from frontdesk.security import PasswordHasher\n"
            "def peak(): return Path('/proc/self/status').read_text().split('VmHWM:')[1]"
            ".split()[0]\n"
            "before = peak()\n"
            "hasher = PasswordHasher('standard')\n"
            "started = peak()\n"
            "assert not hasher.verify(None, 'anything')\n"
            "print(before, started, peak())\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    before, started, after_login = (int(kb) // 1024 for kb in peaks)
    assert started - before < 16, peaks
    assert after_login - before >= 60, peaks  # the hash's 64 MiB: the measure can see it
