"""Per-platform access policy: allow_groups, allow_owners, deny; admins' notes."""

from __future__ import annotations

import pytest

from ivoa_broker.auth.identity import Identity
from ivoa_broker.auth.policy import AccessPolicy
from ivoa_broker.auth.settings import AccessSection
from ivoa_broker.errors import NotPermitted

ALICE = Identity("alice", frozenset({"astro"}))
BOB = Identity("bob")
CAROL = Identity("carol", frozenset({"admins"}), admin=True)
POLICY = AccessPolicy(
    {
        "open": AccessSection(),
        "astro": AccessSection(allow_groups=["astro"], allow_owners=["bob"]),
        "closed": AccessSection(allow_groups=[], deny=["mallory"]),
        "nobob": AccessSection(deny=["bob", "radio"]),
    }
)


def test_refusal_reasons() -> None:
    assert POLICY.refusal(ALICE, "open") is None
    assert POLICY.refusal(ALICE, "unknown") is None
    assert POLICY.refusal(ALICE, "astro") is None
    assert POLICY.refusal(BOB, "astro") is None  # allowed by name
    assert POLICY.refusal(Identity("dora"), "astro") == (
        "platform astro is not permitted for owner dora: only for members of astro"
    )
    assert POLICY.refusal(Identity(None), "astro") == (
        "platform astro is not permitted for anonymous callers: only for members of astro"
    )
    assert "only for members of no group" in (POLICY.refusal(ALICE, "closed") or "")
    assert POLICY.refusal(BOB, "nobob") == "platform nobob is not permitted for owner bob"
    assert POLICY.refusal(Identity("x", frozenset({"radio"})), "nobob") is not None
    assert POLICY.refusal(ALICE, "nobob") is None


def test_check_raises_403() -> None:
    POLICY.check(ALICE, None)
    POLICY.check(ALICE, "astro")
    with pytest.raises(NotPermitted, match="only for members of astro") as caught:
        POLICY.check(Identity("dora"), "astro")
    assert caught.value.status == 403


def test_permitted_uses_remembered_groups_and_tells_only_admins() -> None:
    policy = AccessPolicy({"astro": AccessSection(allow_groups=["astro"])})
    names = ["local", "astro"]
    assert policy.permitted("alice", names) == (["local"], {})  # groups not known yet
    policy.remember(ALICE)
    assert policy.permitted("alice", names) == (["local", "astro"], {})
    policy.remember(CAROL)
    allowed, notes = policy.permitted("carol", names)
    assert allowed == ["local"]
    assert notes == {
        "astro": "platform astro is not permitted for owner carol: only for members of astro"
    }
    assert "astro" not in repr(ALICE.owner)
