"""Offers from the hub's configuration: which profile can serve a request, and why not."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ivoa_broker.protocol import ExecutionRequest, Resources

from ._config import JupyterHubConfig, Profile

__all__ = ["RESERVED_OPTIONS", "Choice", "choose", "user_options"]

#: ``jupyterhub.*`` extensions the adapter reads itself (not passed as user_options)
RESERVED_OPTIONS = frozenset({"profile", "kernel", "user"})


@dataclass(frozen=True)
class Choice:
    profile: Profile | None
    resources: Resources

    @property
    def slug(self) -> str | None:
        return self.profile.slug if self.profile else None

    def offer_id(self, job_id: str) -> str:
        digest = hashlib.sha256(f"{job_id}/{self.slug}".encode()).hexdigest()[:16]
        return f"jh-{digest}"


def _fits(profile: Profile, request: ExecutionRequest) -> str | None:
    res = request.resources
    if res.cores is not None and profile.cores is not None and res.cores > profile.cores:
        return f"profile {profile.slug} has {profile.cores:g} cores"
    if (
        res.memory_bytes is not None
        and profile.memory_bytes is not None
        and res.memory_bytes > profile.memory_bytes
    ):
        return f"profile {profile.slug} has {profile.memory_bytes} bytes of memory"
    if res.gpus > profile.gpus:
        return f"profile {profile.slug} has {profile.gpus} GPUs"
    return None


def choose(config: JupyterHubConfig, request: ExecutionRequest) -> tuple[list[Choice], str | None]:
    """The profiles (or the one default server) that can serve ``request``, or a reason."""
    if not config.allow_named_servers:
        return [], "this JupyterHub does not allow named servers (one per job is needed)"
    if request.kind == "batch" and not request.command and not request.notebook:
        return [], "a batch job on JupyterHub needs a notebook (or a command)"
    if request.image and not config.accepts_image:
        return [], "this JupyterHub's spawner takes no container image"
    res = request.resources
    limit = config.max_walltime_seconds
    if limit is not None and res.walltime_seconds is not None and res.walltime_seconds > limit:
        return [], f"run time {res.walltime_seconds} s exceeds this hub's {limit} s"
    asked = request.extensions_for("jupyterhub").get("profile") or config.default_profile
    if not config.profiles:
        if res.gpus:
            return [], "this JupyterHub offers no GPUs"
        if asked is not None:
            return [], f"this JupyterHub has no profile {asked!r}"
        granted = Resources(
            cores=res.cores, memory_bytes=res.memory_bytes, walltime_seconds=res.walltime_seconds
        )
        return [Choice(None, granted)], None
    candidates: Sequence[Profile] = config.profiles
    if asked is not None:
        candidates = [p for p in config.profiles if p.slug == asked]
        if not candidates:
            return [], f"this JupyterHub has no profile {asked!r}"
    reasons: list[str] = []
    found: list[Choice] = []
    for profile in candidates:
        why = _fits(profile, request)
        if why is not None:
            reasons.append(why)
            continue
        granted = Resources(
            cores=profile.cores,
            memory_bytes=profile.memory_bytes,
            gpus=profile.gpus,
            walltime_seconds=res.walltime_seconds,
        )
        found.append(Choice(profile, granted))
    if not found:
        return [], "no profile of this JupyterHub is big enough: " + "; ".join(reasons)
    return found, None


def user_options(
    config: JupyterHubConfig, request: ExecutionRequest, slug: str | None
) -> dict[str, str | int | float | bool]:
    """The server's user_options: the profile's, then every other ``jupyterhub.*`` extension."""
    options: dict[str, str | int | float | bool] = {}
    profile = next((p for p in config.profiles if p.slug == slug), None)
    if profile is not None:
        options.update(profile.options())
    for key, value in request.extensions_for("jupyterhub").items():
        if key not in RESERVED_OPTIONS:
            options[key] = value
    if request.image and config.accepts_image:
        options.setdefault("image", request.image)
    return options
