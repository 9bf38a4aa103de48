"""One route per resource: handlers of the same path merged, so a method that is not
allowed gets 405 with an ``Allow`` header that lists every method that works there
(Starlette answers 405 from the first route whose path matches, which would name only
that route's methods)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

Endpoint = Callable[[Request], object]


def merge_methods(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """The same routes, with every group of ``Route``s on one path made one route."""
    groups: dict[str, list[Route]] = {}
    order: list[BaseRoute | str] = []
    for route in routes:
        if isinstance(route, Route) and route.methods:
            if route.path not in groups:
                groups[route.path] = []
                order.append(route.path)
            groups[route.path].append(route)
        else:
            order.append(route)
    merged: list[BaseRoute] = []
    for item in order:
        if not isinstance(item, str):
            merged.append(item)
            continue
        group = groups[item]
        if len(group) == 1:
            merged.append(group[0])
            continue
        merged.append(_combined(item, group))
    return merged


def _combined(path: str, group: list[Route]) -> Route:
    by_method: dict[str, Route] = {}
    for route in group:
        for method in route.methods or ():
            by_method.setdefault(method, route)
    name = next((r.name for r in group if r.name and r.name != r.endpoint.__name__), None)

    async def endpoint(request: Request) -> Response:
        route = by_method[request.method]
        response: Response = await route.endpoint(request)
        return response

    endpoint.__name__ = "_".join(sorted({r.endpoint.__name__ for r in group}))
    return Route(path, endpoint, methods=sorted(by_method), name=name or endpoint.__name__)
