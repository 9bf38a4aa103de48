"""Which repository a request launches: ``binder.*`` extensions or the notebook's URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlparse

from ivoa_broker.protocol import ExecutionRequest, InvalidRequest

__all__ = ["BuildSpec", "build_spec"]

_GH = re.compile(
    r"^https?://(github\.com|gitlab\.com)/([^/]+/[^/]+?)(?:\.git)?(?:/(?:-/)?(?:blob|tree)/([^/]+).*)?/?$"
)


@dataclass(frozen=True)
class BuildSpec:
    provider: str
    spec: str

    @property
    def path(self) -> str:
        """``<provider>/<spec>`` as in ``GET /build/<provider>/<spec>``."""
        return f"{self.provider}/{self.spec}"


def _from_repo(provider: str | None, repo: str, ref: str | None) -> BuildSpec:
    match = _GH.match(repo)
    if provider in (None, "gh", "gl") and match:
        host, path, url_ref = match.groups()
        prov = "gh" if host == "github.com" else "gl"
        return BuildSpec(
            prov, f"{path if prov == 'gh' else quote(path, safe='')}/{ref or url_ref or 'HEAD'}"
        )
    if provider in ("zenodo", "figshare", "dataverse"):
        return BuildSpec(provider, quote(repo, safe=""))
    if provider in (None, "git"):
        if not (urlparse(repo).scheme or repo.startswith("/")):
            raise InvalidRequest(f"binder.repo {repo!r} is not a repository URL")
        return BuildSpec("git", f"{quote(repo, safe='')}/{quote(ref or 'HEAD', safe='')}")
    if provider in ("gh", "gl"):
        return BuildSpec(provider, f"{repo.strip('/')}/{ref or 'HEAD'}")
    raise InvalidRequest(f"unknown binder.provider {provider!r}")


def build_spec(request: ExecutionRequest) -> BuildSpec:
    """The build of ``request``; :class:`InvalidRequest` when it names no repository."""
    ext = request.extensions_for("binder")
    repo = ext.get("repo")
    if repo:
        return _from_repo(ext.get("provider"), repo, ext.get("ref"))
    nb = request.notebook
    if nb and (_GH.match(nb) or nb.removesuffix("/").endswith(".git")):
        return _from_repo(None, nb, ext.get("ref"))
    raise InvalidRequest("no repository: give binder.repo (and binder.ref, binder.provider)")
