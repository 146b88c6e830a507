"""E-mail: what a notification e-mail says (``content``), how it is written (``compose``,
with ``templates/`` and the catalogs of ``i18n``) and signed (``dkim``), how it is sent over
SMTP (``transport``), the built-in catcher that receives it when no mail server is
configured (``catcher``), the return paths and the endpoint that reads bounces (``verp``,
``inbound``), and the deliverability check of the sender's DNS (``check``). Nothing here
knows the database. Design: docs/email.md."""
