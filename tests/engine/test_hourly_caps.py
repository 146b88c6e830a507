"""The hourly caps on notification e-mails: beyond an agent's or an account's cap the
e-mails are held, and go out as one digest once the window that filled the cap has passed
(docs/security.md). The window is scaled down to seconds."""

from __future__ import annotations

import time
from pathlib import Path

from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from tests.mailsink import MailSink
from tests.support import (
    Agent,
    engine_settings,
    eventually,
    live_sign_up,
    new_live_visitor,
    serving,
    settled,
)

WINDOW = 2.5


def states_for(agent: Agent, conversation_ids: list[int]) -> list[str]:
    states = []
    for conversation_id in conversation_ids:
        (decided,) = settled(agent, conversation_id)
        (mine,) = [r for r in decided["recipients"] if r["agent_id"] == agent.agent_id]
        states.append(mine["state"])
    return states


def test_beyond_the_agent_s_cap_the_e_mails_go_out_as_one_digest(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> None:
    settings = engine_settings(
        database_url,
        tmp_path,
        sink.url,
        emails_per_agent_per_hour=2,
        emails_per_account_per_hour=0,
        email_cap_window=WINDOW,
    )
    with serving(settings, database, passwords) as server:
        owner = live_sign_up(server)
        started = time.monotonic()
        conversations = [
            new_live_visitor(server, owner.widget_key, name=name).say("Hello?")["conversation_id"]
            for name in ("Anna", "Ben", "Cleo", "Dora", "Emil")
        ]
        assert states_for(owner, conversations) == ["sent", "sent", "held", "held", "held"]
        assert len(sink.wait_for(2, to=owner.email)) == 2
        told = owner.call(
            "GET", f"/notifications?conversation_id={conversations[2]}&agent_id={owner.agent_id}"
        ).json()["notifications"][0]["for_agent"]["text"]
        assert "hourly cap" in told
        assert "digest" in told

        digest = sink.wait_for(3, to=owner.email, timeout=WINDOW + 10)[2]
        # Not before the window that the first two e-mails filled has passed.
        assert digest.received_at - started >= WINDOW - 0.5
        assert digest.message["Subject"] == "3 notifications held back on Shop"
        for name, conversation_id in zip(("Cleo", "Dora", "Emil"), conversations[2:], strict=True):
            assert f'Offline message: "{name}"' in digest.text
            assert f"/dashboard/conversations/{conversation_id}" in digest.text
        assert '"Anna"' not in digest.text
        # The worker records the digest's outcome just after the server's 250.
        eventually(
            lambda: "held" not in states_for(owner, conversations),
            timeout=10,
            what="the digest's outcome recorded",
        )
        assert states_for(owner, conversations) == [
            "sent",
            "sent",
            "in_digest",
            "in_digest",
            "in_digest",
        ]
        assert len(sink.to(owner.email)) == 3

        # The window has passed: the cap has room again, and the next e-mail goes alone.
        later = new_live_visitor(server, owner.widget_key, name="Fritz").say("Hi")
        assert states_for(owner, [later["conversation_id"]]) == ["sent"]
        sink.wait_for(4, to=owner.email)


def test_the_account_s_cap_holds_every_agent_s_e_mail_beyond_it(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> None:
    settings = engine_settings(
        database_url,
        tmp_path,
        sink.url,
        emails_per_agent_per_hour=0,
        emails_per_account_per_hour=3,
        email_cap_window=60,
    )
    with serving(settings, database, passwords) as server:
        owner = live_sign_up(server)
        colleague = owner.invite()
        first = new_live_visitor(server, owner.widget_key, name="Anna").say("Hello?")
        second = new_live_visitor(server, owner.widget_key, name="Ben").say("Hello?")
        states = []
        for said in (first, second):
            (decided,) = settled(owner, said["conversation_id"])
            states += [
                r["state"] for r in sorted(decided["recipients"], key=lambda r: r["agent_id"])
            ]
        assert sorted(states) == ["held", "sent", "sent", "sent"]
        ours = (owner.email, colleague.email)
        assert len(sink.wait_for(3, to=ours)) == 3
