"""The JupyterHub behind the BinderHub: the jupyterhub adapter's client, plus removing
one BinderHub session whole (its server, its tokens and, for a temporary user, the user).
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from ivoa_broker_jupyterhub.client import HubClient, ServerInfo

from ivoa_broker.protocol import AdapterError, NotFound, TransientError

from ._naming import anonymous

__all__ = ["Hub", "server_scope_of"]


def server_scope_of(scopes: object, user: str) -> str | None:
    """The server name a token's scopes are limited to (``...!server=<user>/<name>``)."""
    if not isinstance(scopes, list):
        return None
    for scope in scopes:
        if isinstance(scope, str) and "!server=" in scope:
            owner, _, name = scope.split("!server=", 1)[1].partition("/")
            if owner == user:
                return name
    return None


class Hub(HubClient):
    """:class:`HubClient` with what a BinderHub session's removal needs."""

    async def delete_user(self, name: str) -> None:
        """Delete user ``name`` (its servers and tokens go with it); gone is success."""
        try:
            await self._call("DELETE", f"/users/{quote(name, safe='')}", "delete user", ok=(204,))
        except NotFound:
            return
        except AdapterError as exc:
            if "stopping" in exc.message:  # "...'s server is in the process of stopping"
                raise TransientError(exc.message) from exc
            raise

    async def stop(self, server: ServerInfo) -> None:
        """Stop ``server`` and wait until it has; a named server is removed too (the hub
        refuses to remove a default server)."""
        # the hub has no event for "stopped": its 202 means ask again
        while not await self.stop_server(server.user, server.name, remove=bool(server.name)):  # noqa: ASYNC110
            await asyncio.sleep(0.5)

    async def remove_session(self, server: ServerInfo) -> None:
        """Stop ``server``, revoke the tokens scoped to it; a temporary user BinderHub made
        for it (authentication off) is deleted with everything it had."""
        await self.stop(server)
        if anonymous(server):
            await self.delete_user(server.user)
        else:
            await self.revoke_server_tokens(server.user, server.name)

    async def revoke_server_tokens(self, user: str, server: str) -> None:
        """Revoke every token of ``user`` scoped to its server ``server``."""
        try:
            tokens = await self.tokens(user)
        except NotFound:  # the hub removed the user meanwhile: its tokens went with it
            return
        for token in tokens:
            if server_scope_of(token.get("scopes"), user) == server:
                await self.delete_token(user, str(token["id"]))
