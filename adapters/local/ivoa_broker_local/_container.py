"""Container requests on the local platform: run by an embedded docker adapter, or refused.

``containers`` in the config decides (see :class:`~ivoa_broker_local._config.LocalConfig`):

* ``"auto"`` (the default): the container engine of this machine (``DOCKER_HOST``, else
  the first Docker or Podman API socket found) runs them, if the ``ivoa_broker_docker``
  plug-in is installed;
* ``"off"``: refused, as a platform that runs processes only;
* an engine address (``unix:///run/podman/podman.sock``, ``tcp://host:2376``): that engine.

:class:`Containers` holds the embedded :class:`ivoa_broker_docker.DockerAdapter` (built
through that package's public API, imported lazily: the plug-in is an optional extra,
``ivoa-broker-local[containers]``), or the reason why there is none: that reason is the
refusal of every container request, in the words of :func:`container_refusal`. Handles of
container jobs carry :data:`ENGINE_KEY` in their state, so a fresh instance (after a broker
restart) routes them to the engine; an orphan's bare handle is known by its container name.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ivoa_broker.protocol import AdapterDeps, AdapterError, ExecutionRequest, Handle, Health

if TYPE_CHECKING:
    from ivoa_broker_docker import DockerAdapter

__all__ = [
    "ENGINE_KEY",
    "PLUGIN",
    "Containers",
    "container_refusal",
    "engine_address",
    "engine_on_host",
    "load_plugin",
]

log = logging.getLogger(__name__)

#: the import name of the plug-in that runs containers
PLUGIN = "ivoa_broker_docker"
#: how to install it
INSTALL_HINT = "pip install 'ivoa-broker-local[containers]'"
#: the Handle.state key that marks a container job (its value: the engine's kind)
ENGINE_KEY = "engine"
#: the embedded adapter's own data directory, under the instance's data_dir
DATA_SUBDIR = "containers"

_SOCKETS = ("/run/docker.sock", "/var/run/docker.sock", "/run/podman/podman.sock")


def load_plugin() -> ModuleType | None:
    """The ``ivoa_broker_docker`` package, or None when it is not installed."""
    try:
        return importlib.import_module(PLUGIN)
    except ImportError:
        return None


def _sockets() -> tuple[str, ...]:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return (*_SOCKETS, f"{runtime}/podman/podman.sock") if runtime else _SOCKETS


def engine_address() -> str | None:
    """The address of this machine's container engine: ``DOCKER_HOST``, else the first
    Docker or Podman API socket that exists (``unix://...``); None if there is none."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        return host
    for path in _sockets():
        if os.path.exists(path):
            return f"unix://{path}"
    return None


def engine_on_host() -> str | None:
    """The container engine installed on this machine (``docker``/``podman``), if any."""
    for name in ("docker", "podman"):
        if shutil.which(name):
            return name
    for path in _sockets():
        if os.path.exists(path):
            return "podman" if "podman" in path else "docker"
    return None


def container_refusal(request: ExecutionRequest, problem: str) -> str:
    """Why the local platform does not run ``request.image``: ``problem`` says what to do."""
    image = (request.image or "")[:120]
    return f"the local adapter cannot run container images (image={image!r}): {problem}"


def problem_off() -> str:
    return (
        'its config says containers = "off" (set "auto", or an engine address, to run '
        "them on this machine's Docker or Podman)"
    )


def problem_no_plugin(engine: str | None) -> str:
    where = f"; {engine} is on this machine" if engine else ""
    return f"the plug-in ivoa-broker-docker is not installed ({INSTALL_HINT}){where}"


def problem_no_engine(engine: str | None) -> str:
    if engine is None:
        return "no container engine (Docker or Podman) is installed on this machine"
    looked = ", ".join(_sockets())
    return (
        f"{engine} is installed but its API socket is not there (DOCKER_HOST is unset; "
        f"looked for {looked}): start its service, or set containers to the engine's address"
    )


def problem_open(address: str, exc: AdapterError) -> str:
    return f"its container engine at {address} cannot be used: {exc.message}"


class Containers:
    """The container half of one local platform instance: an embedded docker adapter.

    ``adapter`` is None when containers are not run; ``problem`` then says why (in the
    words :func:`container_refusal` puts after the image). The embedded adapter has the local
    instance's name (so its Offers and Handles are the local platform's), its own data
    directory (``<data_dir>/containers``) and the core's ``wake``.
    """

    def __init__(self, name: str, setting: str, config: dict[str, Any], deps: AdapterDeps):
        self.name = name
        self.setting = setting
        self.config = config
        self.deps = deps
        self.adapter: DockerAdapter | None = None
        self.address: str | None = None
        self.problem: str = "the platform has not been opened yet"
        self._prefix: str | None = None

    async def open(self) -> None:
        """Find the engine and open the embedded adapter; never raises for a missing one."""
        if self.setting == "off":
            self.problem = problem_off()
            return
        plugin = load_plugin()
        if plugin is None:
            self.problem = problem_no_plugin(engine_on_host())
            return
        address = engine_address() if self.setting == "auto" else self.setting
        if address is None:
            self.problem = problem_no_engine(engine_on_host())
            return
        config = plugin.DockerConfig.model_validate({**self.config, "host": address})
        deps = AdapterDeps(
            data_dir=Path(self.deps.data_dir) / DATA_SUBDIR,
            run=self.deps.run,
            wake=self.deps.wake,
        )
        adapter: DockerAdapter = plugin.DockerAdapter(self.name, config, deps)
        try:
            await adapter.open()
        except AdapterError as exc:
            with contextlib.suppress(AdapterError):
                await adapter.aclose()
            self.problem = problem_open(address, exc)
            return
        self.adapter = adapter
        self.address = address
        self._prefix = plugin.container_name(self.name, "")
        self.problem = ""

    async def aclose(self) -> None:
        if self.adapter is not None:
            await self.adapter.aclose()

    def kind(self) -> str:
        """The engine's kind (``docker``/``podman``), or ``container`` if not known yet."""
        facts = self.adapter.engine if self.adapter is not None else None
        return facts.kind if facts is not None else "container"

    def mark(self, handle: Handle) -> Handle:
        """A handle of the embedded adapter, marked as a container job of this platform."""
        return Handle(
            adapter=handle.adapter,
            native_id=handle.native_id,
            state={**handle.state, ENGINE_KEY: self.kind()},
            schema=handle.schema,
            cancel_requested=handle.cancel_requested,
        )

    def owns(self, handle: Handle, work_dir: Path) -> bool:
        """Is ``handle`` a container job? Marked, or (an orphan's bare handle) named
        like this instance's containers and not a local job directory."""
        if ENGINE_KEY in handle.state:
            return True
        if handle.state or self._prefix is None:
            return False
        return (
            handle.native_id.startswith(self._prefix) and not (work_dir / handle.native_id).is_dir()
        )

    async def health(self) -> Health:
        """What to say about containers in the platform's health: not ``ok`` only when
        the config names an engine address and that engine cannot be used."""
        explicit = self.setting not in ("auto", "off")
        if self.adapter is None:
            return Health(ok=not explicit, message=f"containers are not run: {self.problem}")
        found = await self.adapter.health()
        if found.ok:
            return Health(ok=True, message=f"containers on {found.message} ({self.address})")
        return Health(
            ok=not explicit,
            message=f"containers: the engine at {self.address} is NOT usable: {found.message}",
        )
