"""Webhooks out: one signed HTTP request to a customer's endpoint, and Slack's message format
(docs/webhooks.md)."""
