"""An emulator of the Kubernetes API subset the adapter uses, for tests and demos.

A Starlette app that speaks the documented wire protocol of a kube-apiserver
(v1.32 shapes) well enough for ``kubectl`` and the official Python client:
discovery (``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/batch/v1``,
``/openapi/v2``, ``/openapi/v3``), namespaces, nodes (allocatable), batch/v1
Jobs, Pods, Services, ResourceQuotas, LimitRanges and Events; list with label
and field selectors and ``limit``/``continue``; watch with ``resourceVersion``
resume, bookmarks and 410 Gone; merge/JSON patches; deletion with
``propagationPolicy``; ``pods/{name}/log`` (``follow``, ``tailLines``);
``metav1.Status`` errors; Tables for ``kubectl get``; bearer-token auth.

Pods **really run**: each pod's first container is a local process (see
:mod:`._runtime`), so logs, exit codes, OOM kills and deadlines are true.

Tests steer it through :class:`KubernetesEmulator` (``faults``, ``calls``,
``compact``, ``expire_watches``, ``cordon``, ``missing_images``);
run it alone with ``python -m ivoa_broker_kubernetes.emulator --port 8443``
(prints a kubeconfig path for kubectl).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ivoa_broker.testing.serving import QUIET, ServerThread
from ivoa_broker.toolkit.faults import Dropped

from ._api import Api, status_response
from ._cluster import Cluster, ClusterSettings, NodeSpec
from ._errors import ApiError
from ._faults import Faults
from ._store import BY_KIND, Obj

__all__ = [
    "ClusterSettings",
    "EmulatorServer",
    "Faults",
    "KubernetesEmulator",
    "NodeSpec",
    "kubeconfig_text",
    "main",
]

T = TypeVar("T")
_DISCOVERY = ("/api/v1", "/apis/batch", "/apis/batch/v1")


class KubernetesEmulator:
    """The emulated API server. ``app`` is the Starlette application.

    ``tokens``: accepted bearer tokens (None: anonymous access allowed).
    """

    def __init__(
        self, settings: ClusterSettings | None = None, tokens: set[str] | None = None
    ) -> None:
        self.settings = settings or ClusterSettings()
        self.tokens = tokens
        self.faults = Faults()
        #: ``(method, path?query)`` of every API call, in order
        self.calls: list[tuple[str, str]] = []
        self.address = "127.0.0.1:0"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cluster: Cluster | None = None
        self.api: Api | None = None
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._endpoint,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                )
            ],
            lifespan=self._lifespan,
        )

    # -------------------------------------------------------- test controls

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the emulator's loop (from any thread) and return its result."""
        if self._loop is None:
            raise RuntimeError("the emulator is not running")
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(timeout=30)

    @property
    def _cluster(self) -> Cluster:
        if self.cluster is None:
            raise RuntimeError("the emulator is not running")
        return self.cluster

    def compact(self) -> None:
        """Forget the watch history: resuming from any older resourceVersion gives 410."""
        self.call(self._cluster.store.compact)

    def expire_watches(self) -> None:
        """Compact, and end every open watch with a 410 ``Expired`` ERROR event."""

        def both() -> None:
            self._cluster.store.compact()
            assert self.api is not None
            self.api.epoch += 1

        self.call(both)

    def cordon(self, node: str | None = None, unschedulable: bool = True) -> None:
        """Mark nodes unschedulable (new pods stay Pending: ``Unschedulable``)."""

        def do() -> None:
            for obj in self._cluster.store.items(BY_KIND["Node"]):
                if node in (None, obj["metadata"]["name"]):
                    obj["spec"]["unschedulable"] = unschedulable
                    self._cluster.store.update(BY_KIND["Node"], obj)

        self.call(do)

    @property
    def missing_images(self) -> set[str]:
        return self.settings.missing_images

    def objects(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Snapshots of the objects of one kind (``"Job"``, ``"Pod"``...)."""
        res = BY_KIND[kind]
        return self.call(
            lambda: json.loads(json.dumps(list(self._cluster.store.items(res, namespace))))
        )

    def create(self, kind: str, obj: Obj, namespace: str = "") -> Obj:
        """Create an object directly (quotas, limit ranges, namespaces for tests)."""
        return self.call(lambda: self._cluster.create(BY_KIND[kind], obj, namespace))

    def remove(self, kind: str, namespace: str, name: str) -> None:
        """Make an object vanish at once (as if purged behind the adapter's back)."""
        self.call(lambda: self._cluster.purge(BY_KIND[kind], namespace, name))

    def claim_dir(self, namespace: str, claim: str) -> Path:
        """The directory behind an emulated PersistentVolumeClaim."""
        return self._cluster.claim_dir(namespace, claim)

    @property
    def memory_limits_kill(self) -> bool:
        """True when memory limits are cgroup limits (the kernel OOM-kills)."""
        return self._cluster.use_cgroups

    def calls_to(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.split("?")[0] == path)

    # ---------------------------------------------------------------- app

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        state = self.settings.state_dir
        if state is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="k8s-emulator-")
            state = Path(self._tmp.name)
        self.cluster = Cluster(self.settings, state)
        self.api = Api(self.cluster, lambda: self.address)
        runner = asyncio.create_task(self.cluster.run())
        try:
            yield
        finally:
            runner.cancel()
            await self.cluster.shutdown()
            if self._tmp is not None:
                self._tmp.cleanup()

    async def _endpoint(self, request: Request) -> Response:
        assert self.api is not None
        path = request.url.path
        query = request.url.query
        self.calls.append((request.method, path + (f"?{query}" if query else "")))
        watch = request.query_params.get("watch") in ("1", "true", "True")
        fault = self.faults.take(request.method, path, watch)
        if fault is not None:
            if fault.kind == "status":
                message = fault.message or f"emulated fault {fault.status}"
                return status_response(
                    ApiError(fault.status, message, retry_after=fault.retry_after)
                )
            if fault.kind == "garbage":
                return Response(b"<html>\xff{not json", 200, media_type="application/json")
            if fault.kind == "drop":
                return Dropped(b'{"kind":', "application/json")
            if fault.kind == "slow":
                await request.body()
                await asyncio.sleep(fault.seconds)
            if fault.kind == "gone":
                request.state.gone = True
        if self.tokens is not None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token.strip() not in self.tokens:
                return status_response(ApiError(401, "Unauthorized"))
        stripped = path.rstrip("/")
        if stripped.startswith(("/api/", "/apis/")) and stripped not in _DISCOVERY:
            return await self.api.resource(request)
        return await self.api.discovery(request)


def kubeconfig_text(
    url: str,
    token: str | None,
    namespace: str = "default",
    context: str = "emulator",
    ca_pem: bytes | None = None,
) -> str:
    """A kubeconfig (JSON is valid YAML) for kubectl and clients.

    kubectl sends bearer tokens only over TLS: serve with ``tls=True`` and pass
    the server's certificate as ``ca_pem``.
    """
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": cluster}],
            "users": [{"name": "emulator-user", "user": user}],
            "contexts": [
                {
                    "name": context,
                    "context": {
                        "cluster": "emulator",
                        "user": "emulator-user",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": context,
        },
        indent=2,
    )


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """A throw-away certificate for ``host`` (an IP address) made by ``openssl``."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=IP:{host}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class EmulatorServer:
    """Serves a :class:`KubernetesEmulator` with uvicorn on a free loopback port, in a thread.

    ``tls=True``: HTTPS with a fresh self-signed certificate (``ca_pem``), as
    kubectl sends bearer tokens only over TLS.
    """

    def __init__(
        self, emulator: KubernetesEmulator | None = None, host: str = "127.0.0.1", tls: bool = False
    ) -> None:
        self.emulator = emulator or KubernetesEmulator()
        self.host = host
        self.tls = tls
        self.ca_pem: bytes | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._thread = ServerThread("k8s-emulator")

    @property
    def url(self) -> str:
        if not self._thread.sockets:
            raise RuntimeError("the emulator is not started")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self._thread.sockets[0].getsockname()[1]}"

    def kubeconfig(self, token: str | None, namespace: str = "default") -> str:
        return kubeconfig_text(self.url, token, namespace, ca_pem=self.ca_pem)

    def start(self) -> str:
        sock = self._thread.bind(self.host)
        self.emulator.address = f"{self.host}:{sock.getsockname()[1]}"
        tls: dict[str, Any] = {}
        if self.tls:
            self._tls_dir = tempfile.TemporaryDirectory(prefix="k8s-emulator-tls-")
            cert, key = self_signed(Path(self._tls_dir.name), self.host)
            self.ca_pem = cert.read_bytes()
            tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        config = uvicorn.Config(self.emulator.app, **QUIET, timeout_graceful_shutdown=1, **tls)
        self._thread.start([(uvicorn.Server(config), sock)])
        return self.url

    def stop(self) -> None:
        api = self.emulator.api
        if api is not None and self._thread.alive:

            def close() -> None:
                api.closing = True

            self.emulator.call(close)
            time.sleep(0.6)  # open watches notice within 0.5 s and end their streams
        for server in self._thread.servers:
            server.should_exit = True

            def abort(server: uvicorn.Server = server) -> None:
                # connections a client left open (TLS close_notify unanswered)
                for connection in list(server.server_state.connections):
                    transport = getattr(connection, "transport", None)
                    if transport is not None:
                        transport.abort()

            time.sleep(0.2)
            self._thread.call_soon(abort)
        self._thread.stop()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Kubernetes API emulator (ivoa-broker)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--token", default=None, help="require this bearer token")
    parser.add_argument("--kubeconfig", default=None, help="write a kubeconfig here")
    args = parser.parse_args(argv)
    emulator = KubernetesEmulator(tokens={args.token} if args.token else None)
    emulator.address = f"{args.host}:{args.port}"
    if args.kubeconfig:
        Path(args.kubeconfig).write_text(
            kubeconfig_text(f"http://{args.host}:{args.port}", args.token)
        )
        print(f"kubeconfig: {args.kubeconfig}")
    uvicorn.run(emulator.app, host=args.host, port=args.port, log_level="warning")
