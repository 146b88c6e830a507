"""E-mail: what a notification e-mail says (``content``), how it is written (``compose``),
how it is sent over SMTP (``transport``), and the built-in catcher that receives it when no
mail server is configured (``catcher``). Nothing here knows the database."""
