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
``fail_repos``, may drop the stream mid-build (``drop_next``), then asks the hub for a
named server (named like ``launcher.unique_name_from_repo``: the repository path plus
a random suffix) with the ``binder_*`` user_options BinderHub sends. Any route answers
an injected fault first (``faults``: an HTTP error, garbage, a dropped or slow answer).
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from ivoa_broker_jupyterhub.client import HubClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ivoa_broker.protocol import AdapterError, Secret
from ivoa_broker.toolkit.faults import Fault, Faults, injected

__all__ = ["BINDERHUB_COMMIT", "PROVIDERS", "BinderEmulator", "repo_url_of", "unique_name"]

BINDERHUB_COMMIT = "b9fad995d5529e487c25a9f0795f4fe150a96f25"
PROVIDERS = ("gh", "gl", "git", "zenodo", "figshare", "dataverse")
_SUFFIX = string.ascii_lowercase + string.digits


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


def unique_name(repo_url: str) -> str:
    """BinderHub's ``Launcher.unique_name_from_repo``: path of the URL + random suffix."""
    prefix = urlparse(repo_url).path.strip("/").replace("/", "-").lower()
    prefix = prefix.removesuffix(".git")
    if len(prefix) > 20:
        # BinderHub cuts at 32 (15 + 15); JupyterHub 6 takes only 30-character server names
        prefix = f"{prefix[:5]}-{prefix[-14:]}"
    prefix = "".join(c if c.isalnum() or c == "-" else "-" for c in prefix).strip("-")
    return f"{prefix or 'binder'}-{''.join(random.choices(_SUFFIX, k=8))}"


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
        return StreamingResponse(
            self._stream(provider, spec), media_type="text/event-stream", headers=headers
        )

    async def _stream(self, provider: str, spec: str) -> AsyncIterator[str]:
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
        image = f"emulator/{unique_name(repo)}:{ref or 'latest'}"
        yield _event(
            {"phase": "built", "message": "Found built image, launching...\n", "imageName": image}
        )
        yield _event({"phase": "launching", "message": "Launching server...\n"})
        try:
            info = await self._launch(repo, image, request_path)
        except AdapterError as exc:
            yield _event({"phase": "failed", "message": f"Launch failed: {exc.message}\n"})
            return
        if repo in self.cull_repos:
            task = asyncio.create_task(self._cull(info["url"], self.cull_repos[repo]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        path = urlparse(info["url"]).path
        yield _event({"phase": "launching", "message": f"Server ready at {path}\n"})
        yield _event({"phase": "ready", "message": f"server running at {info['url']}\n", **info})

    async def _cull(self, url: str, after: float) -> None:
        await asyncio.sleep(after)
        name = url.rstrip("/").rsplit("/", 1)[-1]
        async with HubClient(self.hub_url, self.hub_token) as hub:
            while not await hub.stop_server(self.user, name, remove=True):  # noqa: ASYNC110
                await asyncio.sleep(0.5)

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

    async def _launch(self, repo: str, image: str, request_path: str) -> dict[str, str]:
        name = unique_name(repo)
        options = {
            "image": image,
            "binder_ref_url": repo,
            "binder_launch_host": "http://binder.emulator/",
            "binder_request": request_path,
            "binder_persistent_request": request_path,
        }
        async with HubClient(self.hub_url, self.hub_token) as hub:
            await hub.create_user(self.user)
            await hub.start_server(self.user, name, options)
            self.launched.append(name)
            async for event in hub.progress(self.user, name):
                if event.get("failed"):
                    raise AdapterError(str(event.get("message", "spawn failed")))
                if event.get("ready"):
                    break
            _, token = await hub.create_token(
                self.user, [f"access:servers!server={self.user}/{name}"], note="binder"
            )
        url = f"{self.hub_url}/user/{self.user}/{name}/"
        # the keys and order of BinderHub's own ready event (tests/fixtures/fullbuild.eventsource)
        return {
            "image": image,
            "repo_url": repo,
            "token": token.reveal(),
            **{k: v for k, v in options.items() if k.startswith("binder_")},
            "url": url,
        }
