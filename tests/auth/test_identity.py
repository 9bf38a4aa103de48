"""Claims become owners and groups only when they can be (no control characters, not
too long, strings); an Identity never shows more than owner, groups and admin."""

from __future__ import annotations

from ivoa_broker.auth.identity import MAX_OWNER, Identity, clean_groups, clean_owner
from ivoa_broker.auth.oidc import claim


def test_clean_owner() -> None:
    assert clean_owner("alice") == "alice"
    assert clean_owner("http://cilogon.org/serverA/users/1234") is not None
    for bad in ("", "a\nb", "x" * (MAX_OWNER + 1), 42, None, ["alice"], "a\x7fb"):
        assert clean_owner(bad) is None


def test_clean_groups_list_or_space_separated() -> None:
    assert clean_groups(["/astro", "/astro/prod", 3, "bad\tgroup"]) == {"/astro", "/astro/prod"}
    assert clean_groups("urn:x:a urn:x:b") == {"urn:x:a", "urn:x:b"}
    assert clean_groups(None) == frozenset()
    assert clean_groups({"a": 1}) == frozenset()


def test_claims_by_literal_or_dotted_name() -> None:
    claims = {"wlcg.groups": ["/w"], "realm_access": {"roles": ["r"]}}
    assert claim(claims, "wlcg.groups") == ["/w"]
    assert claim(claims, "realm_access.roles") == ["r"]
    assert claim(claims, "missing.name") is None


def test_repr_shows_no_more_than_it_should() -> None:
    who = Identity("alice", frozenset({"b", "a"}), admin=True, via="https://iam/")
    assert repr(who) == "Identity(owner='alice', groups=['a', 'b'], admin=True)"
