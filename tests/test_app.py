"""The app (``ivoa_broker/app.py``): the order of routes is free of meaning, and the
server's start-up objects are frozen out of the garbage collector's view."""

from __future__ import annotations

import gc
from pathlib import Path

from starlette.routing import BaseRoute, Match, Route

from ivoa_broker.app import create_app
from ivoa_broker.config import ServerSection, Settings


def _example(route: Route) -> str:
    """A concrete path the route serves: each parameter filled in (a ``:path`` one with
    two segments, so a route that would swallow slashes shows itself)."""
    path = route.path
    for name in route.param_convertors:
        path = path.replace("{" + name + ":path}", "a/b").replace("{" + name + "}", "x1")
    return path


def _scope(path: str, method: str) -> dict[str, object]:
    return {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}


def _first_match(routes: list[BaseRoute], path: str, method: str) -> BaseRoute | None:
    """The route Starlette would pick: the first full match, else the first partial."""
    partial = None
    for route in routes:
        match, _ = route.matches(_scope(path, method))
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def test_every_route_is_found_for_its_own_paths_whatever_comes_before_it() -> None:
    """No route shadows another: so putting the busy API routes first changed nothing
    but how soon a request finds its route."""
    routes = list(create_app().routes)
    checked = 0
    for route in routes:
        assert isinstance(route, Route)
        for method in sorted(route.methods or {"GET"}):
            assert _first_match(routes, _example(route), method) is route, (route.path, method)
            # and in the reverse order as well
            assert _first_match(routes[::-1], _example(route), method) is route
            checked += 1
    assert checked >= 30


def test_the_uws_job_routes_are_tried_first() -> None:
    paths = [r.path for r in create_app().routes if isinstance(r, Route)]
    assert paths[:2] == ["/jobs", "/jobs/{job_id}"]
    # the ExecutionBroker's before the service documents, health and sign-in
    assert paths.index("/offersets/{uuid}") < paths.index("/capabilities")


async def test_the_server_freezes_what_start_up_made_and_a_test_app_does_not(
    tmp_path: Path,
) -> None:
    def settings(name: str) -> Settings:
        return Settings(
            server=ServerSection(database=tmp_path / f"{name}.db", work_dir=tmp_path / name)
        )

    gc.unfreeze()
    try:
        plain = create_app(settings("plain"))
        async with plain.router.lifespan_context(plain):
            assert gc.get_freeze_count() == 0
        served = create_app(settings("served"), freeze_startup=True)
        async with served.router.lifespan_context(served):
            # the modules, adapters and store that start-up made
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
