"""The tag each session of this adapter carries on the hub: which job it is for.

BinderHub passes nothing of a build request into the launch but the provider and
spec (:mod:`._naming`), so the job id cannot ride along. The adapter writes it on the
hub itself, at once when the ``ready`` event names the server and *before* its own
record: a token of the server's user, limited to reading that one server
(``read:servers!server=<user>/<name>``), whose note is ``ivoa-broker-binder <tag>
job=<job id>``. The tag (config ``hub_tag``, default the instance name) tells this
instance's sessions from another broker's on the same hub. The token's value is never
kept; it goes with the server's tokens at cleanup, or with the temporary user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivoa_broker_jupyterhub.client import ServerInfo

from ivoa_broker.protocol import NotFound

from ._hub import Hub, server_scope_of
from ._naming import launched_by_binderhub

__all__ = ["NOTE", "SessionTags", "Tagged", "parse_note", "tag_note"]

NOTE = "ivoa-broker-binder"


def tag_note(tag: str, job_id: str) -> str:
    return f"{NOTE} {tag} job={job_id}"


def parse_note(note: object) -> tuple[str, str] | None:
    """``(tag, job id)`` of a tag token's note, None for any other note."""
    if not isinstance(note, str):
        return None
    parts = note.split(" ")
    if len(parts) != 3 or parts[0] != NOTE or not parts[2].startswith("job="):
        return None
    job = parts[2].removeprefix("job=")
    return (parts[1], job) if job else None


@dataclass(frozen=True)
class Tagged:
    """A BinderHub session on the hub and the job its tag names."""

    job_id: str
    server: ServerInfo


class SessionTags:
    """Tags of the sessions of instance ``tag`` on ``hub``."""

    def __init__(self, hub: Hub, tag: str) -> None:
        self.hub = hub
        self.tag = tag

    async def put(self, job_id: str, user: str, server: str) -> None:
        """Tag ``user/server`` as the session of ``job_id``."""
        await self.hub.create_token(
            user, [f"read:servers!server={user}/{server}"], note=tag_note(self.tag, job_id)
        )

    async def of_user(self, user: str) -> Mapping[str, tuple[str, str]]:
        """Server name -> ``(tag, job id)`` of every tagged server of ``user``."""
        try:
            tokens = await self.hub.tokens(user)
        except NotFound:
            return {}
        found: dict[str, tuple[str, str]] = {}
        for token in tokens:
            parsed = parse_note(token.get("note"))
            server = server_scope_of(token.get("scopes"), user)
            if parsed is not None and server is not None:
                found[server] = parsed
        return found

    async def ours(self) -> list[Tagged]:
        """Every session BinderHub launched that carries this instance's tag: one listing
        of the users, then the tokens of those with a BinderHub server only."""
        found: list[Tagged] = []
        for user in await self.hub.users():
            servers = {n: s for n, s in user.servers.items() if launched_by_binderhub(s)}
            if not servers:
                continue
            for name, (tag, job) in (await self.of_user(user.name)).items():
                if tag == self.tag and name in servers:
                    found.append(Tagged(job, servers[name]))
        return found

    async def of_job(self, job_id: str) -> list[ServerInfo]:
        return [t.server for t in await self.ours() if t.job_id == job_id]

    async def claimed_elsewhere(self, server: ServerInfo, job_id: str) -> bool:
        """``server`` carries a tag of another job, or of another instance."""
        tag = (await self.of_user(server.user)).get(server.name)
        return tag is not None and tag != (self.tag, job_id)
