"""Away end to end (docs/reachability.md), through a real uvicorn, real WebSockets and a
real SMTP server on loopback: a dashboard left open with nobody at it keeps the widget
online only until the account's ``agent_idle_after``; then the widget turns offline, a
visitor's message is e-mailed after the offline delay, and the agent's activity brings
the widget back."""

from __future__ import annotations

from tests.mailsink import MailSink
from tests.support import LiveServer, live_sign_up, new_live_visitor, settled

IDLE_AFTER = 1.0  # seconds; the socket's lease (0.6 s) is renewed all along meanwhile


def test_an_idle_dashboard_stops_keeping_the_widget_online_and_the_offline_e_mail_goes(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    switched = owner.call("PATCH", "/settings/notifications", {"agent_idle_after": IDLE_AFTER})
    assert switched.status_code == 200, switched.text
    assert switched.json()["agent_idle_after"] == IDLE_AFTER
    visitor = new_live_visitor(engine_server, owner.widget_key)

    with owner.socket() as dashboard, visitor.socket() as widget:
        dashboard.wait_for("hello")
        dashboard.send({"type": "activity"})  # the page loaded: the agent is there
        dashboard.wait_for("activity")
        widget.wait_for("widget.status", online=True)

        # Nobody touches the dashboard: away, and the widget shows the offline form.
        widget.wait_for("widget.status", timeout=IDLE_AFTER + 6, online=False)
        status = owner.call("GET", "/me/status").json()
        assert status["state"] == "away"
        assert status["online"] is False
        assert status["idle_after"] == IDLE_AFTER
        (tab,) = status["devices"]
        assert (tab["status"], tab["idle"], tab["online"]) == ("online", True, False)
        (listed,) = owner.call("GET", "/agents").json()
        assert (listed["state"], listed["online"]) == ("away", False)
        widget_status = owner.call("GET", f"/widget/{owner.widget_key}/status").json()
        assert widget_status["online"] is False

        conversation_id = visitor.say("Is anybody there?")["conversation_id"]
        (caught,) = sink.wait_for(1, to=owner.email, timeout=10)
        assert "Is anybody there?" in caught.text
        (decision,) = settled(owner, conversation_id)
        assert decision["kind"] == "offline_message"
        assert decision["state"] == "sent"

        # The agent comes back to the tab: online again, and the widget says so.
        dashboard.send({"type": "activity"})
        widget.wait_for("widget.status", online=True)
        assert owner.call("GET", "/me/status").json()["state"] == "online"
