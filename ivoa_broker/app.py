"""The Starlette application: wiring of store, registry, dispatcher and routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ivoa_broker import storelock
from ivoa_broker.auth import Authenticator
from ivoa_broker.auth.limits import Limits
from ivoa_broker.auth.middleware import IdentityMiddleware
from ivoa_broker.auth.policy import AccessPolicy
from ivoa_broker.auth.sessions import Sealer, SessionCookies, load_secret
from ivoa_broker.config import Settings
from ivoa_broker.dispatch import Dispatcher
from ivoa_broker.hops import broker_id
from ivoa_broker.jobs import JobService
from ivoa_broker.journal import Journal
from ivoa_broker.metrics import CONTENT_TYPE as METRICS_TYPE
from ivoa_broker.metrics import Metrics
from ivoa_broker.protocol import AdapterDeps, utcnow
from ivoa_broker.registry import discover, start_instances
from ivoa_broker.store import JobStore
from ivoa_broker.web import callbacks, eb, health, pages, signin, uws, vosi
from ivoa_broker.web.context import Broker, broker
from ivoa_broker.web.csrf import CsrfGuard
from ivoa_broker.web.errors import HANDLERS
from ivoa_broker.web.framing import EdgeLimits
from ivoa_broker.web.hot import HotJobReads
from ivoa_broker.web.proxy import ProxyHeaders, TrustedProxies
from ivoa_broker.web.routing import merge_methods

log = logging.getLogger(__name__)


async def index(request: Request) -> Response:
    # built like every other URL the broker emits: public_url, else the (proxied) request
    return RedirectResponse(broker(request).base_url(request) + "/capabilities", status_code=303)


def create_app(settings: Settings | None = None, *, freeze_startup: bool = False) -> Starlette:
    """The broker as an ASGI app. Everything starts in the lifespan.

    ``freeze_startup`` (the server process, ``ivoa-broker serve``): once the
    broker has started, what start-up made (modules, adapters, the store, some
    150k objects) is moved out of the garbage collector's view with
    ``gc.freeze()``, so that a full collection scans only what requests made
    since (it took ~50 ms, a pause every request then in flight waits out).
    Not for apps made and dropped in one process (tests): what is frozen is
    never freed.
    """
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.broker = await start_broker(settings, stack)
            if freeze_startup:
                gc.collect()  # only what is alive is frozen
                gc.freeze()
            yield

    middleware = [
        Middleware(EdgeLimits, body_timeout=settings.server.timeout_body),
        Middleware(
            ProxyHeaders,
            trusted=TrustedProxies(settings.server.forwarded_allow_ips),
            root_path=settings.server.root_path,
        ),
        # the polled job document, answered here when nothing below could change it
        Middleware(HotJobReads, cors=bool(settings.server.cors_origins)),
        Middleware(signin.SignInRedirect),
    ]
    middleware.append(Middleware(CsrfGuard, allowed_origins=settings.server.cors_origins))
    middleware.append(Middleware(IdentityMiddleware))
    if settings.server.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.server.cors_origins,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Accept"],
                expose_headers=["Location", "Last-Modified"],
            )
        )
    return Starlette(
        routes=merge_methods(
            pages.with_pages(
                [
                    # Starlette tries routes in order: the API routes that serve nearly
                    # every request first (no path of one matches another's, so the
                    # order changes only how soon a request finds its route)
                    *uws.ROUTES,
                    *eb.ROUTES,
                    Route("/", index, methods=["GET"]),
                    *vosi.ROUTES,
                    *health.ROUTES,
                    *callbacks.ROUTES,
                    *signin.ROUTES,
                ]
            )
        ),
        middleware=middleware,
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )


async def serve_metrics(metrics: Metrics, host: str, port: int, stack: AsyncExitStack) -> None:
    """``/metrics`` alone on a port of its own (``server.metrics_port``), in this loop."""
    import uvicorn

    async def scrape(request: Request) -> Response:
        return Response(await metrics.render(), media_type=METRICS_TYPE)

    app = Starlette(routes=[Route("/metrics", scrape, methods=["GET"])])
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    # bound here, so a port in use fails the start-up at once and loudly
    sock = socket.create_server((host, port), reuse_port=False)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="metrics-server")

    async def stop() -> None:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()

    stack.push_async_callback(stop)


async def start_broker(settings: Settings, stack: AsyncExitStack) -> Broker:
    """Open the store, start adapter instances, re-attach jobs, start loops."""
    auth = Authenticator.from_settings(settings.auth, anonymous=settings.anonymous)
    stack.push_async_callback(auth.aclose)
    if auth.configured:  # the HTML pages' sign-in (web/signin.py)
        secret = load_secret(settings.auth.session, Path(settings.server.work_dir))
        auth.sessions = SessionCookies(Sealer(secret), settings.auth.session.lifetime)
    policy = AccessPolicy({name: spec.access() for name, spec in settings.adapters.items()})
    where = settings.store_location
    if isinstance(where, Path):  # SQLite serves one process; PostgreSQL any number
        lock = storelock.hold(where)
        stack.callback(lock.release)
    store = await JobStore.open(
        where, settings.store.cache_size, pool_size=settings.store.pool_size
    )
    stack.push_async_callback(store.close)
    metrics = Metrics()
    metrics.instrument_store(store)
    metrics.count_jobs_with(store.count_by_phase)
    jobs = JobService(store, settings.jobs, Journal(metrics))
    metrics.count_waiters_with(lambda: jobs.events.waiters)
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
    if isinstance(where, Path):
        dispatcher = Dispatcher(jobs, store, adapters, settings.jobs)
    else:  # PostgreSQL: one of the replicas on it does the platform work (a lease)
        from ivoa_broker.replicas import ReplicaDispatcher

        dispatcher = ReplicaDispatcher(jobs, store, adapters, settings.jobs)
    dispatcher.guard.observe = metrics.call
    dispatcher.metrics = metrics
    dispatcher.access = policy.permitted
    holder["d"] = dispatcher
    await dispatcher.begin()
    stack.push_async_callback(dispatcher.close)
    if settings.server.metrics_port is not None:
        await serve_metrics(metrics, settings.server.host, settings.server.metrics_port, stack)
    return Broker(
        settings=settings,
        store=store,
        jobs=jobs,
        dispatcher=dispatcher,
        auth=auth,
        policy=policy,
        limits=Limits(settings.auth.limits, settings.auth.retry_after, store),
        plugins=plugins,
        problems=problems,
        started=utcnow().replace(microsecond=0),
        metrics=metrics,
        broker_id=broker_id(
            settings.server.broker_id, settings.server.public_url, Path(settings.server.work_dir)
        ),
    )
