"""A real JupyterHub on loopback for tests and demos: the project's start script.

``LocalHub`` writes a hub configuration into a fresh state folder (database,
cookie secret, service token, user homes), starts ``jupyterhub`` with
configurable-http-proxy on three free ports (hub, proxy API, proxy public),
waits until the REST API answers and stops everything it started at the end.
The hub uses the DummyAuthenticator, the SimpleLocalProcessSpawner (every
single-user server runs as the hub's own user, in ``homes/<user>``), named
servers, and one service ``ivoa-broker`` whose token has the scopes the
adapter needs. ``cleanup_servers`` is off, so a restarted hub
(:meth:`LocalHub.restart`) finds the servers it left running.

The hub itself is installed by ``.ci/install.d/40-jupyterhub.sh`` into its own
venv; ``find_installation()`` looks there (or where ``JHUB_VENV`` and
``JHUB_CHP`` say). Other adapters that need a hub (BinderHub) import this
module::

    from ivoa_broker_jupyterhub.localhub import LocalHub, find_installation

    @pytest.fixture(scope="session")
    def hub(tmp_path_factory):
        install = find_installation()
        if install is None:
            pytest.skip("JupyterHub is not installed (.ci/install.d/40-jupyterhub.sh)")
        with LocalHub(tmp_path_factory.mktemp("hub"), install) as hub:
            yield hub

Run by hand: ``python -m ivoa_broker_jupyterhub.localhub DIR`` starts a hub in
DIR, prints its URL and the path of the token file, and stops it on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from ivoa_broker.protocol import Secret

__all__ = ["SERVICE_NAME", "SERVICE_SCOPES", "HubInstallation", "LocalHub", "find_installation"]

DEFAULT_PREFIX = Path("/opt/ivoa-broker-jupyterhub")
SERVICE_NAME = "ivoa-broker"
#: what the adapter needs: users and their servers, tokens for them, and reading the hub
SERVICE_SCOPES = (
    "admin:users",
    "admin:servers",
    "tokens",
    "access:servers",
    "read:hub",
    "list:users",
)


@dataclass(frozen=True)
class HubInstallation:
    """Where the hub's executables are: its venv's ``bin`` and the proxy."""

    bin_dir: Path
    proxy: Path

    @property
    def jupyterhub(self) -> Path:
        return self.bin_dir / "jupyterhub"

    def version(self) -> str:
        out = subprocess.run(
            [str(self.jupyterhub), "--version"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()


def find_installation(environ: Mapping[str, str] | None = None) -> HubInstallation | None:
    """The installed hub (``JHUB_VENV``/``JHUB_CHP``, else the CI install, else PATH)."""
    env = os.environ if environ is None else environ
    prefix = Path(env.get("JHUB_PREFIX", str(DEFAULT_PREFIX)))
    venv = Path(env.get("JHUB_VENV", str(prefix / "venv")))
    proxy = Path(env.get("JHUB_CHP", str(prefix / "node_modules/.bin/configurable-http-proxy")))
    bin_dir = venv / "bin"
    if not (bin_dir / "jupyterhub").is_file():
        found = shutil.which("jupyterhub")
        if found is None:
            return None
        bin_dir = Path(found).parent
    if not proxy.is_file():
        found = shutil.which("configurable-http-proxy")
        if found is None:
            return None
        proxy = Path(found)
    return HubInstallation(bin_dir=bin_dir, proxy=proxy)


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


_CONFIG = """\
# written by ivoa_broker_jupyterhub.localhub: a loopback-only test hub
import os
c = get_config()  # noqa: F821
S = {settings!r}
c.JupyterHub.bind_url = S["public_url"]
c.JupyterHub.hub_bind_url = S["hub_url"]
c.ConfigurableHTTPProxy.api_url = S["proxy_api_url"]
c.ConfigurableHTTPProxy.command = [S["proxy"]]
c.ConfigurableHTTPProxy.pid_file = os.path.join(S["base"], "proxy.pid")
c.JupyterHub.pid_file = os.path.join(S["base"], "jupyterhub.pid")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(S["base"], "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(S["base"], "cookie_secret")
c.JupyterHub.cleanup_servers = False     # a restarted hub finds its servers again
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"    # servers run as the hub's user, in homes/<user>
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(S["base"], "homes", "{{username}}")
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []
c.Spawner.default_url = "/lab"
# the adapter hands out endpoints with a per-server token in the URL (one click in a browser)
c.Spawner.environment = {{"JUPYTERHUB_ALLOW_TOKEN_IN_URL": "1"}}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
# POST /users/u/servers/x answers 202 at once instead of waiting up to 10 s
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = S["server_limit"]
c.JupyterHub.services = [{{"name": S["service"], "api_token": S["token"]}}]
c.JupyterHub.load_roles = [{{"name": S["service"] + "-role", "scopes": S["scopes"],
                            "services": [S["service"]]}}]
"""


class LocalHub:
    """One JupyterHub in ``base``, started by :meth:`start`, stopped by :meth:`stop`.

    ``url`` is the proxy's public URL (the hub API is ``{url}/hub/api``);
    ``token`` the service token (a :class:`Secret`, also in ``token_file``).
    """

    def __init__(
        self,
        base: Path,
        installation: HubInstallation,
        *,
        server_limit: int = 50,
        scopes: Sequence[str] = SERVICE_SCOPES,
        start_timeout: float = 180.0,
    ) -> None:
        self.base = base
        self.installation = installation
        self.server_limit = server_limit
        self.scopes = tuple(scopes)
        self.start_timeout = start_timeout
        public, hub, proxy_api = _free_ports(3)
        self.url = f"http://127.0.0.1:{public}"
        self.hub_url = f"http://127.0.0.1:{hub}"
        self.proxy_api_url = f"http://127.0.0.1:{proxy_api}"
        self.token_file = base / "service_token"
        self.log = base / "hub.log"
        self.homes = base / "homes"
        self._token = Secret(secrets.token_hex(32))
        self._proc: subprocess.Popen[bytes] | None = None
        self.version = ""

    def __repr__(self) -> str:
        return f"LocalHub(url={self.url!r}, base={str(self.base)!r})"

    @property
    def token(self) -> Secret:
        return self._token

    @property
    def api_url(self) -> str:
        return f"{self.url}/hub/api"

    def write_config(self) -> Path:
        self.base.mkdir(parents=True, exist_ok=True)
        self.homes.mkdir(exist_ok=True)
        self.token_file.write_text(self._token.reveal() + "\n")
        self.token_file.chmod(0o600)
        settings = {
            "public_url": self.url,
            "hub_url": self.hub_url,
            "proxy_api_url": self.proxy_api_url,
            "proxy": str(self.installation.proxy),
            "base": str(self.base),
            "server_limit": self.server_limit,
            "service": SERVICE_NAME,
            "token": self._token.reveal(),
            "scopes": list(self.scopes),
        }
        path = self.base / "jupyterhub_config.py"
        path.write_text(_CONFIG.format(settings=settings))
        path.chmod(0o600)
        return path

    def start(self) -> Self:
        config = self.write_config()
        env = {**os.environ, "PATH": f"{self.installation.bin_dir}{os.pathsep}{os.environ['PATH']}"}
        for name in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "VIRTUAL_ENV", "PYTHONPATH"):
            env.pop(name, None)
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(self.installation.jupyterhub), "-f", str(config)],
                cwd=self.base,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited: {self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                answer = httpx.get(f"{self.api_url}/", timeout=2)
                if answer.status_code == 200:
                    self.version = str(answer.json().get("version", ""))
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jupyterhub did not answer in {self.start_timeout} s; see {self.log}")

    def stop_hub(self) -> None:
        """SIGTERM the hub (and its proxy); the single-user servers keep running."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._kill_pidfile(self.base / "proxy.pid", "configurable-http-proxy")

    def restart(self) -> Self:
        """Stop the hub and start it again on the same ports and database."""
        self.stop_hub()
        return self.start()

    def stop(self) -> None:
        """Stop the hub, its proxy and every single-user server it spawned."""
        self.stop_hub()
        for pid in self._server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self._server_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self._server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _server_pids(self) -> list[int]:
        """Processes working in this hub's user homes: the servers it spawned (and kernels)."""
        found = []
        homes = str(self.homes.resolve())
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                cwd = os.readlink(entry / "cwd")
                if cwd == homes or cwd.startswith(homes + os.sep):
                    found.append(int(entry.name))
        return found

    @staticmethod
    def _kill_pidfile(path: Path, expect: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(path.read_text().strip())
            if expect.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """What a client needs (``HUB_URL``, ``HUB_API_TOKEN_FILE``), for shell scripts."""
        return {"HUB_URL": self.url, "HUB_API_TOKEN_FILE": str(self.token_file)}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m ivoa_broker_jupyterhub.localhub STATE_DIR", file=sys.stderr)
        return 2
    install = find_installation()
    if install is None:
        print("jupyterhub is not installed (.ci/install.d/40-jupyterhub.sh)", file=sys.stderr)
        return 1
    with LocalHub(Path(args[0]).resolve(), install) as hub:
        print(json.dumps({"version": hub.version, **hub.env()}), flush=True)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        with contextlib.suppress(KeyboardInterrupt):
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
