"""URL rules of the suite: ``urljoin`` semantics, trailing slashes kept, no double slashes.

A child resource of a job (``phase``, ``results``, …) is resolved against the job URL taken
as a directory, whether or not the service writes the job URL with a trailing slash."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit


def as_directory(url: str) -> str:
    """``url`` with exactly one trailing slash on its path (query and fragment dropped)."""
    parts = urlsplit(url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def child(parent: str, name: str) -> str:
    """``{parent}/{name}`` by urljoin rules: ``child('http://h/jobs/1/', 'phase')`` and
    ``child('http://h/jobs/1', 'phase')`` both give ``http://h/jobs/1/phase``."""
    return urljoin(as_directory(parent), name.lstrip("/"))


def parent(url: str) -> str:
    """The collection a resource URL sits in: ``http://h/jobs/1/`` -> ``http://h/jobs``."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    up = path.rsplit("/", 1)[0] if "/" in path else ""
    return urlunsplit((parts.scheme, parts.netloc, up, "", ""))


def resolve(base: str, reference: str) -> str:
    """A Location or xlink:href taken relative to the URL that was requested."""
    return urljoin(base, reference)


def same(a: str, b: str) -> bool:
    """Two URLs name the same resource, ignoring one trailing slash and default ports."""

    def norm(u: str) -> tuple[str, str, str, str]:
        p = urlsplit(u)
        host = (p.hostname or "").lower()
        port = p.port or {"http": 80, "https": 443}.get(p.scheme, 0)
        return (p.scheme.lower(), f"{host}:{port}", p.path.rstrip("/") or "/", p.query)

    return norm(a) == norm(b)


def last_segment(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
