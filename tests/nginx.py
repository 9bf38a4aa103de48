"""A real nginx in front of broker processes in tests (Debian's ``nginx-light``).

:func:`running_nginx` starts one with its own config (from :data:`CONF`: the caller
gives the ``server`` block's body and optional ``http``-level lines such as an
``upstream``), its own state folder (pid, logs and temp folders) and a free port,
waits until it proxies (``probe`` answers 200), yields its base URL and stops it.
Modules that need it set ``pytestmark = needs_nginx``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.server import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

needs_nginx = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="needs nginx (apt-get install nginx-light)"
)

CONF = """
daemon off;
worker_processes 1;
pid {state}/nginx.pid;
error_log {state}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    access_log {state}/access.log;
    client_body_temp_path {state}/body;
    proxy_temp_path {state}/proxy;
    fastcgi_temp_path {state}/fastcgi;
    uwsgi_temp_path {state}/uwsgi;
    scgi_temp_path {state}/scgi;
{http}
    server {{
        listen 127.0.0.1:{port};
{server}
    }}
}}
"""


@contextmanager
def running_nginx(
    state: Path,
    server: str,
    *,
    http: str = "",
    connections: int = 64,
    probe: str = "/availability",
    timeout: float = 30.0,
) -> Iterator[str]:
    """nginx serving ``server`` (the body of its one ``server`` block) on a free port
    of 127.0.0.1, its files under ``state``; yields ``http://127.0.0.1:PORT``."""
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = state / "nginx.conf"
    conf.write_text(
        CONF.format(state=state, port=port, connections=connections, http=http, server=server)
    )
    with (state / "stderr.log").open("wb") as err:
        nginx = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(state)], stdout=subprocess.DEVNULL, stderr=err
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout  # a hang guard: a busy machine is slow
        while True:
            try:
                if httpx.get(f"{url}{probe}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if nginx.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not start: {(state / 'stderr.log').read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        nginx.terminate()
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
