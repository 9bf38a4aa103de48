"""The routes' shared context (``web/context.py``): the cached base URL."""

from __future__ import annotations

import itertools
from typing import Any

from starlette.requests import Request

from ivoa_broker.web.context import BaseUrls


def _scope(
    *,
    scheme: str = "http",
    host: bytes | None = b"broker.example:8080",
    server: Any = ("127.0.0.1", 8080),
    root_path: str = "",
    app_root_path: str | None = None,
    other: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    headers = list(other or [])
    if host is not None:
        headers.append((b"host", host))
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": scheme,
        "path": root_path + "/jobs/x",
        "root_path": root_path,
        "query_string": b"a=1",
        "headers": headers,
        "server": server,
    }
    if app_root_path is not None:
        scope["app_root_path"] = app_root_path
    return scope


def _starlette(scope: dict[str, Any]) -> str:
    """What the broker answered before the cache: Starlette's own base URL."""
    return str(Request(scope).base_url).rstrip("/")


SCOPES = [
    _scope(scheme=scheme, host=host, server=server, root_path=root, app_root_path=app_root)
    for scheme, host, server, root, app_root in itertools.product(
        ("http", "https"),
        (b"broker.example:8080", b"broker.example", b"[::1]:9000", None, b"bad host!"),
        (("127.0.0.1", 8080), ("::1", 443), ["10.0.0.1", 80], None),
        ("", "/broker"),
        (None, "/outer"),
    )
]


def test_the_cached_url_is_starlettes_for_every_scope_first_time_and_after() -> None:
    urls = BaseUrls()
    for scope in SCOPES:
        assert urls.of(Request(scope)) == _starlette(scope), scope
    for scope in SCOPES:  # now from the cache: still each scope's own
        assert urls.of(Request(scope)) == _starlette(scope), scope


def test_only_the_first_host_header_counts_as_in_starlette() -> None:
    urls = BaseUrls()
    scope = _scope(host=b"one.example", other=[(b"accept", b"*/*")])
    scope["headers"].append((b"host", b"two.example"))
    assert urls.of(Request(scope)) == "http://one.example" == _starlette(scope)


def test_a_new_host_is_never_answered_with_another_ones_url() -> None:
    urls = BaseUrls()
    assert urls.of(Request(_scope(host=b"a.example"))) == "http://a.example"
    assert urls.of(Request(_scope(host=b"b.example"))) == "http://b.example"
    assert urls.of(Request(_scope(host=b"a.example", scheme="https"))) == "https://a.example"
    assert urls.of(Request(_scope(host=b"a.example", root_path="/p"))) == "http://a.example/p"


def test_invented_hosts_do_not_grow_it_past_its_size() -> None:
    urls = BaseUrls(size=8)
    for n in range(100):
        scope = _scope(host=f"h{n}.example".encode())
        assert urls.of(Request(scope)) == f"http://h{n}.example"
    assert len(urls._urls) == 8
    # the newest are the ones kept
    assert ("http", b"h99.example", ("127.0.0.1", 8080), "") in urls._urls
