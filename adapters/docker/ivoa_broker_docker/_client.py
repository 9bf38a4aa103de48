"""``EngineClient``: the docker SDK's low-level ``APIClient`` behind worker threads.

Every call runs in a thread (the SDK is blocking) and every foreign exception
is translated once, in :func:`ivoa_broker_docker._errors.translate`. The same
client talks to Docker Engine and to Podman's Docker-compatible API; what
differs between them is decided in :mod:`ivoa_broker_docker._engine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import docker.tls

from ivoa_broker.protocol import NotFound
from ivoa_broker_docker._config import DockerConfig
from ivoa_broker_docker._errors import translate

__all__ = ["EngineClient"]

T = TypeVar("T")
JSONDict = dict[str, Any]


def _tls(config: DockerConfig) -> docker.tls.TLSConfig | bool:
    if config.tls is None:
        return False
    return docker.tls.TLSConfig(
        client_cert=(str(config.tls.client_cert), str(config.tls.client_key)),
        ca_cert=str(config.tls.ca_cert) if config.tls.ca_cert else None,
        verify=config.tls.verify if config.tls.ca_cert is None else str(config.tls.ca_cert),
    )


class EngineClient:
    """Async facade over one engine connection (unix socket, tcp+TLS or ssh)."""

    def __init__(self, config: DockerConfig) -> None:
        self._config = config
        self._api: docker.APIClient | None = None
        self._events_stop = threading.Event()
        self._events_stream: Any = None

    @property
    def base_url(self) -> str:
        return self._config.host or docker.utils.utils.DEFAULT_UNIX_SOCKET

    @property
    def is_local_socket(self) -> bool:
        return self.base_url.startswith(("unix://", "http+unix://", "npipe://"))

    async def _run(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except Exception as exc:  # the boundary: every SDK error becomes an AdapterError
            raise translate(exc, what) from exc

    def _client(self) -> docker.APIClient:
        if self._api is None:
            kwargs: dict[str, Any] = {"timeout": int(self._config.timeout_seconds)}
            if self._config.host is None:
                kwargs.update(docker.utils.kwargs_from_env())
            else:
                kwargs["base_url"] = self._config.host
                kwargs["tls"] = _tls(self._config)
            kwargs["version"] = self._config.api_version
            self._api = docker.APIClient(**kwargs)
        return self._api

    async def connect(self) -> None:
        await self._run("connect", self._client)

    async def close(self) -> None:
        self._events_stop.set()
        stream = self._events_stream
        if stream is not None:
            _close_stream(stream)
        if self._api is not None:
            await asyncio.to_thread(self._api.close)

    # ----------------------------------------------------------------- engine

    async def ping(self) -> bool:
        return bool(await self._run("ping", lambda: self._client().ping()))

    async def ping_headers(self) -> dict[str, str]:
        """``/_ping`` headers: ``Server`` and ``Libpod-Api-Version`` name the engine (fast,
        unlike Podman's ``/version``, which takes seconds)."""

        def ping() -> dict[str, str]:
            api = self._client()
            answer = api._get(api._url("/_ping", versioned_api=False))
            api._raise_for_status(answer)
            if answer.content.strip() != b"OK":
                raise ValueError(f"/_ping answered {answer.content[:40]!r}")
            return {k.lower(): v for k, v in answer.headers.items()}

        return await self._run("ping", ping)

    async def version(self) -> JSONDict:
        return dict(await self._run("version", lambda: self._client().version()))

    async def info(self) -> JSONDict:
        return dict(await self._run("info", lambda: self._client().info()))

    # ----------------------------------------------------------------- images

    async def image_present(self, ref: str) -> bool:
        def probe() -> bool:
            try:
                self._client().inspect_image(ref)
            except docker.errors.ImageNotFound:
                return False
            return True

        return await self._run(f"image {ref}", probe)

    async def pull(self, ref: str) -> None:
        def pull() -> None:
            repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
            self._client().pull(repo, tag=tag or "latest")

        await self._run(f"pull {ref}", pull)

    async def distribution(self, ref: str) -> JSONDict:
        """The registry's manifest of ``ref`` (``GET /distribution/{ref}/json``).

        It answers only if the image can be pulled."""
        return dict(
            await self._run(
                f"registry lookup of {ref}", lambda: self._client().inspect_distribution(ref)
            )
        )

    # ------------------------------------------------------------- containers

    async def create(self, name: str, body: Mapping[str, Any]) -> str:
        def create() -> str:
            api = self._client()
            url = api._url("/containers/create")
            answer = api._post_json(url, data=dict(body), params={"name": name})
            return str(api._result(answer, True)["Id"])

        return await self._run(f"create {name}", create)

    async def start(self, ref: str) -> None:
        await self._run(f"start {ref}", lambda: self._client().start(ref))

    async def inspect(self, ref: str) -> JSONDict:
        return dict(
            await self._run(f"inspect {ref}", lambda: self._client().inspect_container(ref))
        )

    async def inspect_or_none(self, ref: str) -> JSONDict | None:
        try:
            return await self.inspect(ref)
        except NotFound:
            return None

    async def list(self, labels: Mapping[str, str]) -> list[JSONDict]:
        wanted = [f"{k}={v}" for k, v in labels.items()]
        return list(
            await self._run(
                "list containers",
                lambda: self._client().containers(all=True, filters={"label": wanted}),
            )
        )

    async def stop(self, ref: str, grace: int) -> None:
        # the HTTP timeout must outlast the grace period the engine waits
        def stop() -> None:
            api = self._client()
            url = api._url("/containers/{0}/stop", ref)
            answer = api._post(
                url, params={"t": grace}, timeout=grace + self._config.timeout_seconds
            )
            if answer.status_code != 304:  # 304: already stopped
                api._raise_for_status(answer)

        await self._run(f"stop {ref}", stop)

    async def remove(self, ref: str) -> None:
        await self._run(
            f"remove {ref}", lambda: self._client().remove_container(ref, v=True, force=True)
        )

    async def logs(self, ref: str, *, stdout: bool, stderr: bool) -> bytes:
        def logs() -> bytes:
            out = self._client().logs(ref, stdout=stdout, stderr=stderr, stream=False)
            return out if isinstance(out, bytes) else bytes(out)

        return await self._run(f"logs {ref}", logs)

    async def copy_out(self, ref: str, path: str, into: Path) -> None:
        """The archive API: copy the folder ``path`` of the container into ``into``."""

        def copy() -> None:
            stream, _ = self._client().get_archive(ref, path)
            data = b"".join(stream)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                into.mkdir(parents=True, exist_ok=True)
                members = tar.getmembers()
                # Docker names members "output/x" (under a root entry "output");
                # Podman names them "/x" (under a root entry ""): see _engine.
                top = Path(path).name
                rooted = any(m.name.strip("/") == top and m.isdir() for m in members)
                for member in members:
                    if not member.isfile():
                        continue
                    rel = Path(member.name.lstrip("/"))
                    if rooted and rel.parts and rel.parts[0] == top:
                        rel = Path(*rel.parts[1:])
                    if not rel.parts or ".." in rel.parts:
                        continue
                    source = tar.extractfile(member)
                    if source is None:
                        continue
                    target = into / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(source.read())

        await self._run(f"copy {path} out of {ref}", copy)

    # ----------------------------------------------------------------- events

    def watch(self, labels: Mapping[str, str], on_event: Callable[[JSONDict], None]) -> None:
        """Follow container events with ``labels`` in a daemon thread until :meth:`close`."""
        wanted = [f"{k}={v}" for k, v in labels.items()]

        def follow() -> None:
            while not self._events_stop.is_set():
                try:
                    stream = self._client().events(
                        decode=True, filters={"type": "container", "label": wanted}
                    )
                    self._events_stream = stream
                    if self._events_stop.is_set():  # closed while connecting
                        _close_stream(stream)
                        return
                    for event in _events(stream):
                        on_event(event)
                except Exception:  # reconnect: events are an optimisation over polling
                    if self._events_stop.wait(1.0):
                        return

        threading.Thread(target=follow, name="docker-events", daemon=True).start()


def _close_stream(stream: Any) -> None:
    """End an ``/events`` stream from another thread.

    The SDK's ``CancellableStream.close()`` shuts the socket down while the HTTP
    response still holds a file object on it; closing the response too releases
    the descriptor now (else it is freed by the garbage collector, with a
    ResourceWarning)."""
    with contextlib.suppress(Exception):
        stream.close()
    with contextlib.suppress(Exception):
        stream._response.close()


def _events(stream: Any) -> Iterator[JSONDict]:
    for event in stream:
        if isinstance(event, dict):
            yield event
