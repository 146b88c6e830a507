"""VERP return paths: made only by the installation's key, read back whatever case the
mail system that returns them folds them to."""

from __future__ import annotations

from frontdesk.mail.verp import (
    delivery_of_token,
    outbox_of_token,
    outbox_verp_token,
    return_path,
    token_of,
    verp_token,
)

KEY = b"k" * 32


def test_a_token_names_its_delivery_and_only_our_key_makes_one() -> None:
    token = verp_token(KEY, 4711)
    assert token == token.lower()
    assert delivery_of_token(KEY, token) == 4711
    assert delivery_of_token(KEY, token.upper()) == 4711  # folded on the way back
    assert delivery_of_token(b"x" * 32, token) is None
    assert delivery_of_token(KEY, token.replace("4711", "4712", 1)) is None
    assert delivery_of_token(KEY, "4711") is None
    assert delivery_of_token(KEY, "") is None
    assert delivery_of_token(KEY, "٤٧١١-" + token.split("-")[1]) is None  # digits, ASCII only


def test_an_outbox_token_names_its_e_mail_and_is_never_read_as_a_delivery() -> None:
    token = outbox_verp_token(KEY, 4711)
    assert token.startswith("o4711-")
    assert outbox_of_token(KEY, token) == 4711
    assert outbox_of_token(KEY, token.upper()) == 4711
    assert outbox_of_token(b"x" * 32, token) is None
    # The same id with the other kind's mark, or without it, is no token of ours.
    assert delivery_of_token(KEY, token) is None
    assert delivery_of_token(KEY, token[1:]) is None
    assert outbox_of_token(KEY, verp_token(KEY, 4711)) is None
    assert outbox_of_token(KEY, "o" + verp_token(KEY, 4711)) is None
    address = return_path("bounces@shop.example", token)
    assert token_of("bounces@shop.example", address) == token


def test_the_return_path_is_the_bounce_address_with_a_plus_token() -> None:
    assert return_path("Help <help@shop.example>", "12-abc") == "help+12-abc@shop.example"
    assert return_path("bounces+fd@shop.example", "12-abc") == "bounces+fd+12-abc@shop.example"
    # No domain, no VERP: the address is used as it is.
    assert return_path("frontdesk", "12-abc") == "frontdesk"


def test_only_addresses_shaped_like_our_return_paths_have_a_token() -> None:
    token = verp_token(KEY, 12)
    address = return_path("Help <help@shop.example>", token)
    assert token_of("help@shop.example", address) == token
    assert token_of("help@shop.example", f"<{address.upper()}>") == token
    assert token_of("help@shop.example", "help@shop.example") is None
    assert token_of("help@shop.example", f"help+{token}@other.example") is None
    assert token_of("help@shop.example", f"helpdesk+{token}@shop.example") is None
    assert token_of("help@shop.example", "help+anything@shop.example") is None
    assert token_of("help@shop.example", "postmaster@shop.example") is None
