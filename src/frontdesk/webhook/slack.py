"""An event as a Slack incoming-webhook message: who wrote, what, and a link to the
conversation (docs/webhooks.md).

Slack reads a message's text as *mrkdwn*: ``<url|label>`` is a link, ``<!channel>`` calls
everybody, ``*x*`` is bold. Nothing a visitor or an agent typed (a name, a message, an
account's name) goes into mrkdwn: the words that are mrkdwn are Frontdesk's own, with the
conversation's number, and whatever somebody typed goes into ``plain_text`` objects, which
Slack shows as they are, with ``&``, ``<`` and ``>`` escaped as Slack asks for all text.
"""

from __future__ import annotations

import json
from typing import Any

from frontdesk.core.webhooks import WebhookEvent

# Slack's limits: a section's text 3,000 characters, a button's label 75.
TEXT_MAX = 3000


def escaped(text: str) -> str:
    """``text`` with the three characters Slack reads as control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> dict[str, Any]:
    if len(text) > TEXT_MAX:
        text = text[: TEXT_MAX - 1] + "…"
    return {"type": "plain_text", "text": escaped(text), "emoji": False}


_HEADLINES = {
    WebhookEvent.OFFLINE_MESSAGE: "Offline message",
    WebhookEvent.MISSED_CONVERSATION: "Missed conversation",
    WebhookEvent.CONVERSATION_CREATED: "New conversation",
    WebhookEvent.MESSAGE_CREATED: "New message",
    WebhookEvent.CONVERSATION_CLOSED: "Conversation closed",
    WebhookEvent.TEST: "Test event",
}


def message(payload: dict[str, Any]) -> dict[str, Any]:
    """The Slack message of a Frontdesk webhook payload (``{"type", "timestamp", "data"}``)."""
    event = WebhookEvent(payload["type"])
    data = payload["data"]
    headline = _HEADLINES[event]
    conversation = data.get("conversation")
    if conversation is not None:
        number = int(conversation["id"])
        summary = f"{headline} in conversation #{number}"
        mrkdwn = f"*{headline}* in <{_link(conversation['url'])}|conversation #{number}>"
    else:
        summary = f"{headline} from Frontdesk"
        mrkdwn = f"*{headline}* from Frontdesk"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}]
    who, what = _who_and_what(event, data)
    if who:
        blocks.append({"type": "context", "elements": [_plain(who)]})
    if what:
        blocks.append({"type": "section", "text": _plain(what)})
    if conversation is not None:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the conversation"},
                        "url": conversation["url"],
                    }
                ],
            }
        )
    return {"text": escaped(summary), "blocks": blocks}


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(message(payload), ensure_ascii=False).encode()


def _link(url: str) -> str:
    """A URL inside ``<…|…>``: Frontdesk's own (``public_url``), escaped all the same."""
    return escaped(url).replace("|", "%7C")


def _visitor(data: dict[str, Any]) -> str:
    visitor = data.get("visitor") or {}
    name = (visitor.get("name") or "").strip()
    return name or f"Visitor #{visitor.get('id', '?')}"


def _who_and_what(event: WebhookEvent, data: dict[str, Any]) -> tuple[str, str]:
    if event is WebhookEvent.TEST:
        return "", str(data.get("text", ""))
    account = (data.get("account") or {}).get("name", "")
    if event in (WebhookEvent.OFFLINE_MESSAGE, WebhookEvent.MISSED_CONVERSATION):
        texts = [m["text"] for m in data.get("messages", []) if m.get("author") == "visitor"]
        return f"{_visitor(data)} on {account}", "\n".join(texts)
    if event is WebhookEvent.CONVERSATION_CLOSED:
        closed_by = (data.get("closed_by") or {}).get("name") or ""
        return f"{_visitor(data)} on {account}", f"Closed by {closed_by}" if closed_by else ""
    message = data.get("message") or {}
    if message.get("author") == "agent":
        author = (message.get("agent") or {}).get("name") or "An agent"
    elif message.get("author") == "visitor":
        author = _visitor(data)
    else:
        author = "Frontdesk"
    return f"{author} on {account}", str(message.get("text", ""))
