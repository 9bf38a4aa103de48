"""Per-platform access policy: who may see offers from an instance and run on it.

Each ``[adapters.NAME]`` may set ``allow_groups`` (only members of these groups; unset:
everybody), ``allow_owners`` (owners allowed besides) and ``deny`` (owners or groups
refused, whatever else says). Applied

* in offers: an instance a caller may not use is never asked; only an admin is told
  it was left out ("not permitted"), everybody else does not learn it exists;
* in direct submission: ``platform=`` naming a forbidden instance is a 403 with the
  reason (:meth:`AccessPolicy.check`);
* when a queued job is launched, with the groups its owner last authenticated with
  (kept in memory; after a restart, until the owner's next request, none).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from ivoa_broker.auth.identity import Identity
from ivoa_broker.auth.settings import AccessSection
from ivoa_broker.errors import NotPermitted

#: owners whose groups are remembered for launches (least recently seen forgotten first)
REMEMBERED = 10000
NOT_PERMITTED = "not permitted"


class AccessPolicy:
    def __init__(self, rules: Mapping[str, AccessSection]) -> None:
        self.rules = {name: rule for name, rule in rules.items() if _restricts(rule)}
        self._seen: OrderedDict[str | None, Identity] = OrderedDict()

    def __repr__(self) -> str:
        return f"AccessPolicy(restricted={sorted(self.rules)})"

    def remember(self, identity: Identity) -> None:
        """The groups an owner authenticated with, for jobs launched later."""
        self._seen[identity.owner] = identity
        self._seen.move_to_end(identity.owner)
        while len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)

    def identity_of(self, owner: str | None) -> Identity:
        return self._seen.get(owner) or Identity(owner=owner)

    def refusal(self, identity: Identity, instance: str) -> str | None:
        """Why ``identity`` may not use ``instance``, or None when it may."""
        rule = self.rules.get(instance)
        if rule is None:
            return None
        owner = identity.owner
        who = f"owner {owner}" if owner is not None else "anonymous callers"
        if (owner is not None and owner in rule.deny) or identity.groups & set(rule.deny):
            return f"platform {instance} is {NOT_PERMITTED} for {who}"
        if rule.allow_groups is None:
            return None
        if (owner is not None and owner in rule.allow_owners) or identity.groups & set(
            rule.allow_groups
        ):
            return None
        groups = ", ".join(rule.allow_groups) or "no group"
        return f"platform {instance} is {NOT_PERMITTED} for {who}: only for members of {groups}"

    def check(self, identity: Identity, instance: str | None) -> None:
        """Direct submission to ``instance``: :class:`NotPermitted` (403) with the reason."""
        if instance is None:
            return
        why = self.refusal(identity, instance)
        if why is not None:
            raise NotPermitted(why)

    def permitted(
        self, owner: str | None, names: Iterable[str]
    ) -> tuple[list[str], dict[str, str]]:
        """The instances ``owner`` may use, and (for admins only) why the others are not
        asked; the dispatcher's hook (``Dispatcher.access``)."""
        identity = self.identity_of(owner)
        allowed: list[str] = []
        notes: dict[str, str] = {}
        for name in names:
            why = self.refusal(identity, name)
            if why is None:
                allowed.append(name)
            elif identity.admin:
                notes[name] = why
        return allowed, notes


def _restricts(rule: AccessSection) -> bool:
    return rule.allow_groups is not None or bool(rule.deny)
