"""Redactor: every known secret replaced, longest first, Secret values too."""

from __future__ import annotations

from ivoa_broker.protocol import Secret
from ivoa_broker.toolkit import REDACTED, Redactor


def test_every_secret_is_replaced() -> None:
    r = Redactor(["tok-123", Secret("pw!"), ""])
    assert r.scrub("a tok-123 b pw! c tok-123") == f"a {REDACTED} b {REDACTED} c {REDACTED}"


def test_longer_secret_first_so_nothing_leaks() -> None:
    r = Redactor(["abc", "abcdef"])
    assert r.scrub("xabcdefx") == f"x{REDACTED}x"


def test_with_secrets_adds_per_call_tokens_without_changing_the_original() -> None:
    base = Redactor(["one"])
    call = base.with_secrets([Secret("two"), None])
    assert call.scrub("one two") == f"{REDACTED} {REDACTED}"
    assert base.scrub("one two") == f"{REDACTED} two"
    assert "one" not in repr(base)
