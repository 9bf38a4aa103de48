"""Who is calling: an owner, their groups, whether they administer the broker.

An :class:`Identity` never holds the caller's token: what a provider verified is
reduced to these fields before anything else sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the longest owner name accepted from any provider
MAX_OWNER = 256


@dataclass(frozen=True)
class Identity:
    owner: str | None
    groups: frozenset[str] = field(default_factory=frozenset)
    #: member of one of ``auth.admin_groups``: may list and abort every job
    admin: bool = False
    #: which provider vouched for it ("token-file", an issuer URL; None for anonymous)
    via: str | None = None
    #: an admin acting on another owner's job: the admin (``owner`` is the job's)
    acting_admin: str | None = None

    def __repr__(self) -> str:
        return f"Identity(owner={self.owner!r}, groups={sorted(self.groups)!r}, admin={self.admin})"


ANONYMOUS = Identity(owner=None)


def clean_owner(value: object) -> str | None:
    """A claim's value as an owner name, or None when it cannot be one (empty, too
    long, not a string, control characters)."""
    if not isinstance(value, str) or not value or len(value) > MAX_OWNER:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return None
    return value


def clean_groups(value: object) -> frozenset[str]:
    """A groups claim: a list of names, or one space-separated string (both seen in
    the wild: ``groups``, ``wlcg.groups``, ``eduperson_entitlement``)."""
    if isinstance(value, str):
        items: list[object] = list(value.split())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return frozenset()
    return frozenset(g for g in (clean_owner(i) for i in items) if g is not None)
