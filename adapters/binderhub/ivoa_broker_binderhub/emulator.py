"""An emulator of the BinderHub API (Starlette) that launches REAL servers on a REAL hub.

Follows BinderHub's ``docs/source/api.rst`` and ``binderhub/builder.py`` at commit
``b9fad995d5529e487c25a9f0795f4fe150a96f25``: ``GET /build/<provider>/<spec>`` answers
``text/event-stream`` with ``data: {json}`` events whose ``phase`` is one of
``waiting, fetching, building, pushing, built, launching, ready, failed`` and whose
``message`` ends in a newline; ``ready`` carries the server's ``url`` and ``token``
(BinderHub's launcher: a token in the server's ``user_options``; here a hub token of
the launch user scoped to the one server) and the ``binder_*`` launch keys, in the
order of BinderHub's recorded stream ``js/packages/binderhub-client/tests/fixtures/
fullbuild.eventsource`` (a copy is in the tests; they compare). ``/health``
(``{"ok", "checks"}``, 503 when unhealthy), ``/versions`` and ``/_config`` (enabled
providers) as BinderHub has them.

A build checks out the repository when it is a local path, a ``file://`` URL or served
on loopback (``git clone``), waits ``delay`` seconds per phase, fails for repositories listed in
``fail_repos``, may drop the stream mid-build (``drop_next``), then launches on the hub as
``BuildHandler.launch`` does (``binderhub/builder.py`` lines 715-727): named by
``Launcher.unique_name_from_repo`` (``launcher.py`` lines 143-169, :mod:`._naming`), the
name is a temporary *user* with its default server when ``mode`` is ``"anonymous"``
(authentication off, BinderHub's default and mybinder.org's), or a *named server* of
``user`` when ``mode`` is ``"named"`` (authentication and named servers on; JupyterHub 6
takes server names of at most 30 characters, so only short repository paths launch
there, as with a real BinderHub). The server gets BinderHub's user_options
(``launcher.py`` lines 244-252, ``builder.py`` lines 739-745) but ``token``: the session
token is a hub token of the launch user scoped to the one server (the hub's local
spawner takes no token from user_options). Culled sessions (``cull_repos``) are stopped
and, for a temporary user, the user is deleted, as BinderHub's idle culler does. Any
route answers an injected fault first (``faults``: an HTTP error, garbage, a dropped or
slow answer).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ivoa_broker.protocol import AdapterError, Secret
from ivoa_broker.toolkit.faults import Fault, Faults, injected

from ._hub import Hub
from ._naming import name_prefix, unique_name

__all__ = ["BINDERHUB_COMMIT", "PROVIDERS", "BinderEmulator", "repo_url_of", "unique_name"]

BINDERHUB_COMMIT = "b9fad995d5529e487c25a9f0795f4fe150a96f25"
PROVIDERS = ("gh", "gl", "git", "zenodo", "figshare", "dataverse")


def repo_url_of(provider: str, spec: str) -> tuple[str, str]:
    """``(repository URL, ref)`` of a build spec, as BinderHub's repo providers read it."""
    if provider == "git":
        url, _, ref = spec.rpartition("/")
        return unquote(url), unquote(ref) or "HEAD"
    if provider in ("gh", "gl"):
        host = "github.com" if provider == "gh" else "gitlab.com"
        path, _, ref = unquote(spec).rpartition("/")
        return f"https://{host}/{path}", ref or "HEAD"
    return unquote(spec), ""


def _fault_status(fault: Fault) -> Response:
    """Tornado's error page, as BinderHub answers errors outside the event stream."""
    text = fault.body or f"<html><title>{fault.status}: Emulated failure</title></html>"
    return Response(text, fault.status, media_type="text/html")


def _event(data: Mapping[str, Any]) -> str:
    return f"data: {json.dumps(dict(data))}\n\n"


@dataclass
class BinderEmulator:
    """The emulator's behaviour, changeable by tests while it runs."""

    hub_url: str
    hub_token: Secret
    #: "anonymous": each launch a temporary user; "named": a named server of ``user``
    mode: Literal["anonymous", "named"] = "anonymous"
    user: str = "binder"
    auth_token: Secret | None = None
    delay: float = 0.2
    providers: tuple[str, ...] = PROVIDERS
    fail_repos: set[str] = field(default_factory=set)
    healthy: bool = True
    drop_next: int = 0
    #: repository -> seconds after which its sessions are culled (BinderHub's idle culler)
    cull_repos: dict[str, float] = field(default_factory=dict)
    built: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    launched: list[str] = field(default_factory=list)
    #: injected faults (ivoa_broker.toolkit.faults), taken per call before anything is done
    faults: Faults = field(default_factory=Faults)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/build/{provider}/{spec:path}", self._faulty(self._build)),
                Route("/health", self._faulty(self._health)),
                Route("/versions", self._faulty(self._versions)),
                Route("/_config", self._faulty(self._config)),
            ]
        )

    def _faulty(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Every route takes the next matching injected fault first (``faults``)."""

        async def endpoint(request: Request) -> Response:
            fault = self.faults.take(request.method, request.url.path)
            if fault is not None:
                answer = await injected(fault, request, _fault_status)
                if answer is not None:
                    return answer
            return await handler(request)

        return endpoint

    def _authorised(self, request: Request) -> bool:
        if self.auth_token is None:
            return True
        return request.headers.get("authorization") == f"token {self.auth_token.reveal()}"

    async def _health(self, request: Request) -> Response:
        checks = [{"service": "JupyterHub API", "ok": self.healthy}]
        return JSONResponse({"ok": self.healthy, "checks": checks}, 200 if self.healthy else 503)

    async def _versions(self, request: Request) -> Response:
        return JSONResponse(
            {"builder_info": {"emulator": BINDERHUB_COMMIT}, "binderhub": "emulator"}
        )

    async def _config(self, request: Request) -> Response:
        return JSONResponse({p: {"text": p, "enabled": True} for p in self.providers})

    async def _build(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        spec = request.path_params["spec"]
        headers = {"cache-control": "no-cache"}
        if not self._authorised(request):
            return Response(
                _event({"phase": "failed", "status_code": 403, "message": "Forbidden\n"}),
                403,
                media_type="text/event-stream",
                headers=headers,
            )
        # builder.py lines 389-393 and 709: the launch host and the client's address
        where = (str(request.base_url), request.client.host if request.client else "")
        return StreamingResponse(
            self._stream(provider, spec, where), media_type="text/event-stream", headers=headers
        )

    async def _stream(self, provider: str, spec: str, where: tuple[str, str]) -> AsyncIterator[str]:
        if provider not in self.providers:
            yield _event({"phase": "failed", "message": f"No provider found for {provider}\n"})
            return
        repo, ref = repo_url_of(provider, spec)
        request_path = f"v2/{provider}/{spec}"
        key = f"{repo}@{ref}"
        if key not in self.built:
            yield _event({"phase": "waiting", "message": "Waiting for build to start...\n"})
            await asyncio.sleep(self.delay)
            yield _event({"phase": "fetching", "message": f"Fetching {repo}@{ref}\n"})
            log = await self._checkout(repo, ref)
            for line in log:
                yield _event({"phase": "fetching", "message": line + "\n"})
            await asyncio.sleep(self.delay)
            yield _event({"phase": "building", "message": "Step 1/3 : FROM buildpack-deps\n"})
            if self.drop_next > 0:
                # the build goes on in its pod; only this stream ends
                self.drop_next -= 1
                if repo not in self.fail_repos:
                    self.built.add(key)
                return
            await asyncio.sleep(self.delay)
            if repo in self.fail_repos or any(line.startswith("fatal") for line in log):
                yield _event({"phase": "building", "message": "ERROR: no environment.yml\n"})
                yield _event({"phase": "failed", "message": "Build failed\n"})
                return
            yield _event(
                {"phase": "pushing", "message": "Pushing image\n", "progress": {"layer1": "Pushed"}}
            )
            self.built.add(key)
        elif repo in self.fail_repos:
            yield _event({"phase": "failed", "message": "Build failed\n"})
            return
        image = f"emulator/{name_prefix(repo)}:{ref or 'latest'}"
        yield _event(
            {"phase": "built", "message": "Found built image, launching...\n", "imageName": image}
        )
        yield _event({"phase": "launching", "message": "Launching server...\n"})
        try:
            user, server, info = await self._launch(repo, image, request_path, where)
        except AdapterError as exc:
            yield _event({"phase": "failed", "message": f"Launch failed: {exc.message}\n"})
            return
        if repo in self.cull_repos:
            task = asyncio.create_task(self._cull(user, server, self.cull_repos[repo]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        path = urlparse(info["url"]).path
        yield _event({"phase": "launching", "message": f"Server ready at {path}\n"})
        yield _event({"phase": "ready", "message": f"server running at {info['url']}\n", **info})

    async def _cull(self, user: str, server: str, after: float) -> None:
        """BinderHub's idle culler: the server stopped (removed when named), a temporary
        user deleted."""
        await asyncio.sleep(after)
        async with Hub(self.hub_url, self.hub_token) as hub:
            while not await hub.stop_server(user, server, remove=bool(server)):  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            if not server:
                await hub.delete_user(user)

    async def _checkout(self, repo: str, ref: str) -> list[str]:
        """``git clone`` a local repository (a path, a file:// URL, or served on loopback
        over HTTP); others (the internet) are not fetched."""
        path = repo.removeprefix("file://")
        loopback = urlparse(repo).hostname in ("127.0.0.1", "localhost", "::1")
        if not (path.startswith("/") or loopback):
            return [f"(not fetched: {repo} is not local)"]
        with tempfile.TemporaryDirectory(prefix="binder-") as tmp:
            proc = await asyncio.create_subprocess_exec(
                "git",
                "clone",
                "--quiet",
                path,
                tmp + "/repo",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await proc.communicate()
            return [line for line in out.decode(errors="replace").splitlines() if line] + (
                [f"Checked out {path}"] if proc.returncode == 0 else []
            )

    async def _launch(
        self, repo: str, image: str, request_path: str, where: tuple[str, str]
    ) -> tuple[str, str, dict[str, str]]:
        """Launch on the hub: ``(user, server, the ready event's keys)``."""
        name = unique_name(repo)  # builder.py lines 715-727
        user, server = (name, "") if self.mode == "anonymous" else (self.user, name)
        options = {  # launcher.py lines 244-252 (but the token), builder.py lines 739-745
            "image": image,
            "repo_url": repo,
            "binder_ref_url": repo,
            "binder_launch_host": where[0],
            "binder_request": request_path,
            "binder_persistent_request": request_path,
            "binder_client_ip": where[1],
        }
        async with Hub(self.hub_url, self.hub_token) as hub:
            await hub.create_user(user)
            await hub.start_server(user, server, options)
            self.launched.append(name)
            async for event in hub.progress(user, server):
                if event.get("failed"):
                    raise AdapterError(str(event.get("message", "spawn failed")))
                if event.get("ready"):
                    break
            _, token = await hub.create_token(
                user, [f"access:servers!server={user}/{server}"], note="binder"
            )
        # launcher.py lines 355-357
        url = f"{self.hub_url}/user/{user}/" + (f"{server}/" if server else "")
        # the keys and order of BinderHub's own ready event (tests/fixtures/fullbuild.eventsource)
        return (
            user,
            server,
            {
                "image": image,
                "repo_url": repo,
                "token": token.reveal(),
                **{k: v for k, v in options.items() if k.startswith("binder_")},
                "url": url,
            },
        )
