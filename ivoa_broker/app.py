"""The Starlette application: wiring of store, registry, dispatcher and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ivoa_broker.auth import Authenticator, read_token_file
from ivoa_broker.config import Settings
from ivoa_broker.dispatch import Dispatcher
from ivoa_broker.hops import broker_id
from ivoa_broker.jobs import JobService
from ivoa_broker.protocol import AdapterDeps, utcnow
from ivoa_broker.registry import discover, start_instances
from ivoa_broker.store import JobStore
from ivoa_broker.web import callbacks, eb, uws, vosi
from ivoa_broker.web.context import Broker
from ivoa_broker.web.errors import HANDLERS

log = logging.getLogger(__name__)


async def index(request: Request) -> Response:
    return RedirectResponse(str(request.url_for("capabilities")), status_code=303)


def create_app(settings: Settings | None = None) -> Starlette:
    """The broker as an ASGI app. Everything starts in the lifespan."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.broker = await start_broker(settings, stack)
            yield

    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            *vosi.ROUTES,
            *uws.ROUTES,
            *eb.ROUTES,
            *callbacks.ROUTES,
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )


async def start_broker(settings: Settings, stack: AsyncExitStack) -> Broker:
    """Open the store, start adapter instances, re-attach jobs, start loops."""
    tokens = read_token_file(settings.auth.token_file) if settings.auth.token_file else {}
    auth = Authenticator(tokens, anonymous=settings.anonymous)
    store = await JobStore.open(Path(settings.server.database))
    stack.push_async_callback(store.close)
    jobs = JobService(store, settings.jobs)
    plugins = discover()
    for plugin in plugins.values():
        if not plugin.ok:
            log.warning("plug-in %s unusable: %s", plugin.name, plugin.error)
    holder: dict[str, Dispatcher] = {}
    loop = asyncio.get_running_loop()

    def make_deps(name: str, data_dir: Path) -> AdapterDeps:
        def wake(native_id: str) -> None:
            dispatcher = holder.get("d")
            if dispatcher is not None:
                loop.call_soon_threadsafe(dispatcher.wake, name, native_id)

        callback_url = settings.server.public_url
        return AdapterDeps(
            data_dir=data_dir,
            wake=wake,
            callback_url=f"{callback_url.rstrip('/')}/callbacks/{name}" if callback_url else None,
        )

    adapters, problems = await start_instances(
        settings.adapters,
        plugins,
        work_dir=Path(settings.server.work_dir),
        make_deps=make_deps,
        stack=stack,
    )
    for problem in problems:
        log.warning("platform %s not started: %s", problem.instance, problem.message)
    dispatcher = Dispatcher(jobs, store, adapters, settings.jobs)
    holder["d"] = dispatcher
    await dispatcher.begin()
    stack.push_async_callback(dispatcher.close)
    return Broker(
        settings=settings,
        store=store,
        jobs=jobs,
        dispatcher=dispatcher,
        auth=auth,
        plugins=plugins,
        problems=problems,
        started=utcnow().replace(microsecond=0),
        broker_id=broker_id(
            settings.server.broker_id, settings.server.public_url, Path(settings.server.work_dir)
        ),
    )
