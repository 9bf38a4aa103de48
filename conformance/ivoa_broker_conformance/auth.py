"""Credentials of the two test identities: bearer token, HTTP Basic, a named header, a cookie.

Every kind ends up as request headers, so httpx and pyvo's requests session send the same.
The secret part never appears in a repr, a log line or a report."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["bearer", "basic", "header", "cookie"]


@dataclass(frozen=True)
class Credential:
    kind: Kind
    #: header or cookie name; the user name for Basic; unused for bearer
    name: str = ""
    secret: str = field(default="", repr=False)

    def __repr__(self) -> str:
        shown = f" {self.name}" if self.name else ""
        return f"Credential({self.kind}{shown}, ***)"

    def headers(self) -> dict[str, str]:
        if self.kind == "bearer":
            return {"Authorization": f"Bearer {self.secret}"}
        if self.kind == "basic":
            raw = f"{self.name}:{self.secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
        if self.kind == "header":
            return {self.name: self.secret}
        return {"Cookie": f"{self.name}={self.secret}"}

    def describe(self) -> str:
        """What a report may say about this credential (no secret)."""
        return {
            "bearer": "bearer token",
            "basic": f"HTTP Basic as {self.name}",
            "header": f"header {self.name}",
            "cookie": f"cookie {self.name}",
        }[self.kind]


def bearer(token: str) -> Credential:
    return Credential("bearer", secret=token)


def basic(text: str) -> Credential:
    """``USER:PASSWORD``."""
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise ValueError("Basic credentials are USER:PASSWORD")
    return Credential("basic", user, password)


def header(text: str) -> Credential:
    """``NAME: VALUE`` (or ``NAME=VALUE``)."""
    sep = ":" if ":" in text else "="
    name, found, value = text.partition(sep)
    if not found or not name.strip():
        raise ValueError("a header credential is 'NAME: VALUE'")
    return Credential("header", name.strip(), value.strip())


def cookie(text: str) -> Credential:
    """``NAME=VALUE``."""
    name, found, value = text.partition("=")
    if not found or not name.strip():
        raise ValueError("a cookie credential is NAME=VALUE")
    return Credential("cookie", name.strip(), value.strip())
