"""An async client of the JupyterHub REST API and of single-user servers.

Public, so that other adapters built on a hub (BinderHub) reuse it:
:class:`HubClient` speaks to ``{hub}/hub/api`` with a service token
(users, named servers, the spawn-progress event stream, tokens);
:class:`ServerClient` speaks to one single-user server through the hub's
proxy (contents API, kernels, code execution over the kernel websocket).
Every failure comes out as a contract :class:`~ivoa_broker.protocol.AdapterError`
(``NotFound``, ``AuthError``, ``TransientError``, ...).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import quote

import httpx
import websockets
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect as ws_connect

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    Conflict,
    FatalError,
    NotFound,
    Secret,
    TransientError,
)

from ._errors import error_for_response, translated

__all__ = ["ExecutionOutcome", "HubClient", "ServerClient", "ServerInfo", "UserInfo"]

_PAGINATION = "application/jupyterhub-pagination+json"


def _q(part: str) -> str:
    return quote(part, safe="")


@dataclass(frozen=True)
class ServerInfo:
    """One named server as the hub reports it (``servers`` of a user model)."""

    user: str
    name: str
    ready: bool
    pending: str | None
    stopped: bool
    url: str
    started: str | None = None
    user_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, user: str, data: Mapping[str, Any]) -> ServerInfo:
        return cls(
            user=user,
            name=str(data.get("name", "")),
            ready=bool(data.get("ready")),
            pending=data.get("pending") or None,
            stopped=bool(data.get("stopped")),
            url=str(data.get("url") or ""),
            started=data.get("started"),
            user_options=dict(data.get("user_options") or {}),
        )

    @property
    def started_at(self) -> datetime | None:
        if not self.started:
            return None
        moment = datetime.fromisoformat(self.started.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class UserInfo:
    name: str
    servers: Mapping[str, ServerInfo]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserInfo:
        name = str(data["name"])
        servers = data.get("servers") or {}
        return cls(
            name=name,
            servers={str(k): ServerInfo.from_json(name, v) for k, v in servers.items()},
        )


class _TokenApi:
    """What both clients share: one httpx client sending ``token``, closed with the
    client (an async context manager, or :meth:`aclose`), and :meth:`_call`, every
    request through the one error boundary (:mod:`._errors`)."""

    def __init__(
        self,
        base_url: str,
        token: Secret,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"token {token.reveal()}"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, what: str, *, ok: Sequence[int] = (200,), **kw: Any
    ) -> httpx.Response:
        with translated(what):
            response = await self._http.request(method, path, **kw)
        if response.status_code not in ok:
            raise error_for_response(response, what)
        return response


class HubClient(_TokenApi):
    """The hub's REST API (``{url}/hub/api``) with a service token.

    ``transport`` replaces httpx's own (tests put a fault injector there).
    Use as an async context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        url: str,
        token: Secret,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        super().__init__(f"{self.url}/hub/api", token, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"HubClient(url={self.url!r})"

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        with translated(what):
            return response.json()

    # ----------------------------------------------------------------- hub

    async def version(self) -> str:
        """The hub's version (``GET /hub/api/``, no scope needed)."""
        data = self._json(await self._call("GET", "/", "hub version"), "hub version")
        if not isinstance(data, dict):
            raise FatalError("hub version: JupyterHub sent an answer that does not parse")
        return str(data.get("version", ""))

    async def info(self) -> Mapping[str, Any]:
        """``GET /hub/api/info`` (needs ``read:hub``): versions, spawner, authenticator."""
        data = self._json(await self._call("GET", "/info", "hub info"), "hub info")
        if not isinstance(data, dict):
            raise FatalError("hub info: JupyterHub sent an answer that does not parse")
        return data

    async def whoami(self) -> Mapping[str, Any]:
        """``GET /user``: the token's own model (its scopes)."""
        data = self._json(await self._call("GET", "/user", "token check"), "token check")
        if not isinstance(data, dict):
            raise FatalError("token check: JupyterHub sent an answer that does not parse")
        return data

    # --------------------------------------------------------------- users

    async def users(self, *, page_size: int = 200) -> list[UserInfo]:
        """Every user with their servers, stopped ones included (one request per page).

        A 404 is :class:`TransientError`: the list always exists, so that answer
        comes from a proxy whose hub is restarting."""
        found: list[UserInfo] = []
        offset = 0
        while True:
            try:
                response = await self._call(
                    "GET",
                    "/users",
                    "list users",
                    params={"include_stopped_servers": "1", "offset": offset, "limit": page_size},
                    headers={"Accept": _PAGINATION},
                )
            except NotFound as exc:
                # the collection always exists: a 404 is a hub (re)starting behind its proxy
                raise TransientError(f"{exc.message}: the hub's API is not serving") from exc
            with translated("list users"):
                data = response.json()
                items = data["items"] if isinstance(data, dict) else data
                found += [UserInfo.from_json(item) for item in items]
                nxt = data.get("_pagination", {}).get("next") if isinstance(data, dict) else None
            if not nxt:
                return found
            offset = int(nxt["offset"])

    async def user(self, name: str) -> UserInfo | None:
        """One user with their servers (stopped ones included), None if unknown."""
        try:
            response = await self._call(
                "GET", f"/users/{_q(name)}", "read user", params={"include_stopped_servers": "1"}
            )
        except NotFound:
            return None
        with translated("read user"):
            return UserInfo.from_json(response.json())

    async def create_user(self, name: str) -> None:
        """Create ``name``; an existing user is success."""
        try:
            await self._call("POST", f"/users/{_q(name)}", "create user", ok=(201,))
        except Conflict:
            return

    # ------------------------------------------------------------- servers

    async def start_server(
        self, user: str, server: str, options: Mapping[str, Any] | None = None
    ) -> bool:
        """Ask for named server ``user/server`` with ``options`` as user_options.

        True once asked (201 started, 202 pending); a server already running
        or pending is success too (True). The hub answers 400 for both.
        """
        path = f"/users/{_q(user)}/servers/{_q(server)}"
        try:
            await self._call("POST", path, "start server", ok=(201, 202), json=dict(options or {}))
        except AdapterError as exc:
            if "already" in exc.message or "pending" in exc.message:
                return True
            raise
        return True

    async def stop_server(self, user: str, server: str, *, remove: bool = True) -> bool:
        """Stop (and with ``remove`` delete) ``user/server``. True: done (204), False:
        still stopping (202). A server or user that is gone is success (True)."""
        path = f"/users/{_q(user)}/servers/{_q(server)}"
        try:
            response = await self._call(
                "DELETE", path, "stop server", ok=(202, 204), json={"remove": remove}
            )
        except NotFound:
            return True
        except AdapterError as exc:
            if "pending" in exc.message and "spawn" in exc.message:
                raise TransientError(exc.message) from exc
            raise
        return response.status_code == 204

    async def progress(self, user: str, server: str) -> AsyncIterator[Mapping[str, Any]]:
        """The spawn-progress event stream (``GET .../progress``, server-sent events).

        Yields each event (``progress``, ``message``, and at the end ``ready``
        with ``url``, or ``failed``) until the hub closes the stream.
        """
        path = f"/users/{_q(user)}/servers/{_q(server)}/progress"
        timeout = httpx.Timeout(self._timeout, read=None)
        with translated("spawn progress"):
            async with aconnect_sse(self._http, "GET", path, timeout=timeout) as source:
                if source.response.status_code != 200:
                    await source.response.aread()
                    raise error_for_response(source.response, "spawn progress")
                async for event in source.aiter_sse():
                    if event.data:
                        data = json.loads(event.data)
                        if isinstance(data, dict):
                            yield data

    # -------------------------------------------------------------- tokens

    async def create_token(
        self, user: str, scopes: Sequence[str], *, note: str, expires_in: int | None = None
    ) -> tuple[str, Secret]:
        """A new API token of ``user`` limited to ``scopes``: ``(token id, token)``."""
        body: dict[str, Any] = {"scopes": list(scopes), "note": note}
        if expires_in is not None:
            body["expires_in"] = max(int(expires_in), 1)
        response = await self._call(
            "POST", f"/users/{_q(user)}/tokens", "create token", ok=(200, 201), json=body
        )
        with translated("create token"):
            data = response.json()
            return str(data["id"]), Secret(str(data["token"]))

    async def delete_token(self, user: str, token_id: str) -> None:
        """Revoke one token of ``user``; a token that is gone is success."""
        try:
            await self._call(
                "DELETE", f"/users/{_q(user)}/tokens/{_q(token_id)}", "delete token", ok=(204,)
            )
        except NotFound:
            return

    async def tokens(self, user: str) -> list[Mapping[str, Any]]:
        """The API tokens of ``user`` (models, never the token values)."""
        response = await self._call("GET", f"/users/{_q(user)}/tokens", "list tokens")
        with translated("list tokens"):
            data = response.json()
            items = data.get("api_tokens", []) if isinstance(data, dict) else data
            return [dict(item) for item in items]

    def server(self, user: str, server: str, token: Secret | None = None) -> ServerClient:
        """A client of the single-user server ``user/server`` (through the proxy)."""
        return ServerClient(
            f"{self.url}/user/{_q(user)}/{_q(server)}/",
            token or self._token,
            timeout=self._timeout,
        )


@dataclass(frozen=True)
class ExecutionOutcome:
    """What one ``execute_request`` did: its status and the text it printed."""

    status: str
    stdout: str
    stderr: str
    error: str | None = None


class ServerClient(_TokenApi):
    """One single-user server (``{hub}/user/{user}/{server}/``): contents and kernels."""

    def __init__(self, base_url: str, token: Secret, *, timeout: float = 30.0) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        super().__init__(self.base_url, token, timeout=timeout)

    def __repr__(self) -> str:
        return f"ServerClient(base_url={self.base_url!r})"

    async def status(self) -> Mapping[str, Any]:
        data = (await self._call("GET", "api/status", "server status")).json()
        return dict(data) if isinstance(data, dict) else {}

    # ------------------------------------------------------------ contents

    async def get_model(self, path: str, *, content: bool = True) -> Mapping[str, Any] | None:
        """The contents-API model of ``path`` (None if it does not exist)."""
        params = {"content": "1" if content else "0"}
        try:
            response = await self._call(
                "GET", f"api/contents/{quote(path)}", "read file", params=params
            )
        except NotFound:
            return None
        with translated("read file"):
            data = response.json()
            if not isinstance(data, dict):
                raise ValueError("not a model")
            return data

    async def read_bytes(self, path: str) -> bytes | None:
        """The bytes of file ``path`` (None if it does not exist)."""
        try:
            response = await self._call(
                "GET",
                f"api/contents/{quote(path)}",
                "read file",
                params={"content": "1", "format": "base64", "type": "file"},
            )
        except NotFound:
            return None
        with translated("read file"):
            return base64.b64decode(response.json()["content"])

    async def read_json(self, path: str) -> Any:
        """File ``path`` parsed as JSON (None if it does not exist)."""
        data = await self.read_bytes(path)
        if data is None:
            return None
        with translated("read file"):
            return json.loads(data)

    async def mkdir(self, path: str) -> None:
        """Make directory ``path`` and its parents (existing ones are fine)."""
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            await self._call(
                "PUT",
                f"api/contents/{quote(sub)}",
                "make folder",
                ok=(200, 201),
                json={"type": "directory"},
            )

    async def write_bytes(self, path: str, data: bytes) -> None:
        body = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
        await self._call(
            "PUT", f"api/contents/{quote(path)}", "write file", ok=(200, 201), json=body
        )

    async def listdir(self, path: str) -> list[Mapping[str, Any]]:
        """The entries of directory ``path`` (empty if it does not exist)."""
        model = await self.get_model(path)
        if model is None or model.get("type") != "directory":
            return []
        return [dict(entry) for entry in model.get("content") or []]

    # ------------------------------------------------------------- kernels

    async def start_kernel(self, name: str = "python3") -> str:
        response = await self._call(
            "POST", "api/kernels", "start kernel", ok=(200, 201), json={"name": name}
        )
        with translated("start kernel"):
            return str(response.json()["id"])

    async def kernels(self) -> list[Mapping[str, Any]]:
        response = await self._call("GET", "api/kernels", "list kernels")
        with translated("list kernels"):
            return [dict(k) for k in response.json()]

    async def delete_kernel(self, kernel_id: str) -> None:
        try:
            await self._call("DELETE", f"api/kernels/{_q(kernel_id)}", "stop kernel", ok=(204,))
        except NotFound:
            return

    async def execute(
        self, kernel_id: str, code: str, *, wait: bool = True, timeout: float = 60.0
    ) -> ExecutionOutcome:
        """Run ``code`` in kernel ``kernel_id`` over its websocket (``/channels``).

        With ``wait`` the call collects output until the kernel's ``execute_reply``
        and its return to ``idle``;
        without, it returns once the kernel has taken the request (its first
        ``busy`` status), leaving the code running.
        """
        url = self.base_url.replace("http", "ws", 1) + f"api/kernels/{_q(kernel_id)}/channels"
        session = uuid.uuid4().hex
        msg_id = uuid.uuid4().hex
        message = {
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "username": "ivoa-broker",
                "session": session,
                "date": datetime.now(UTC).isoformat(),
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": code,
                "silent": False,
                "store_history": False,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            "channel": "shell",
            "buffers": [],
        }
        out: list[str] = []
        err: list[str] = []
        error: str | None = None
        reply: str | None = None
        idle = False
        try:
            async with ws_connect(
                url,
                additional_headers={"Authorization": f"token {self._token.reveal()}"},
                open_timeout=timeout,
                max_size=2**24,
            ) as ws:
                await ws.send(json.dumps(message))
                async with asyncio.timeout(timeout):
                    async for raw in ws:
                        msg = json.loads(raw)
                        if msg.get("parent_header", {}).get("msg_id") != msg_id:
                            continue
                        kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
                        content = msg.get("content", {})
                        state = content.get("execution_state")
                        if kind == "status" and state == "busy" and not wait:
                            return ExecutionOutcome("started", "", "")
                        if kind == "status" and state == "idle":
                            idle = True
                        elif kind == "stream":
                            (out if content.get("name") == "stdout" else err).append(
                                str(content.get("text", ""))
                            )
                        elif kind == "error":
                            error = f"{content.get('ename')}: {content.get('evalue')}"
                        elif kind == "execute_reply":
                            reply = str(content.get("status"))
                        if reply is not None and idle:
                            return ExecutionOutcome(reply, "".join(out), "".join(err), error)
        except AdapterError:
            raise
        except TimeoutError as exc:
            raise TransientError("kernel did not answer in time") from exc
        except (OSError, websockets.exceptions.WebSocketException) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in (401, 403):
                raise AuthError(f"kernel websocket refused ({status})") from exc
            if status == 404:
                raise NotFound("kernel websocket: no such kernel or server") from exc
            raise TransientError(f"kernel websocket: {type(exc).__name__}") from exc
        except ValueError as exc:
            raise FatalError("kernel sent a message that does not parse") from exc
        raise TransientError("kernel closed the connection before answering")
