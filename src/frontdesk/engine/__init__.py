"""The notification engine's moving part: the worker that decides due notifications and
sends their e-mails. The rules are in ``frontdesk.core.notifications``, the records in
``frontdesk.service.notifications``, the e-mail in ``frontdesk.mail``; this package only runs
them at the right time. Design notes: docs/notifications.md."""
