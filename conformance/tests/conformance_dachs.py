"""GAVO DaCHS 2.7 (Debian ``gavodachs2-server``) run for real, once per test session.

Every run gets its own state folder and ports: a private PostgreSQL cluster (``initdb`` in a
fresh directory, unix socket only, a free port number) and a DaCHS root directory with its
own settings file (``GAVOSETTINGS``), initialised by ``dachs init`` against that cluster and
served by ``dachs serve debug`` on a free loopback port. Two DaCHS users (HTTP Basic) give
the owner checks their identities. Root-safe: PostgreSQL refuses to run as root, so when the
tests run as root its commands run as the ``postgres`` system user (``runuser``); DaCHS runs
as the caller with ``[web] user`` empty, so it never changes user. Everything is stopped and
removed at the end.

``python conformance_dachs.py`` starts one by hand and prints its TAP URL.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

PG_BIN = Path(os.environ.get("CONFORMANCE_PG_BIN", "/usr/lib/postgresql/15/bin"))
USERS = {"alice": "alice-dachs-pw-0001", "bob": "bob-dachs-pw-0002"}
START_TIMEOUT = 120.0


def missing() -> str | None:
    """Why DaCHS cannot run here, or None."""
    if shutil.which("dachs") is None:
        return (
            "DaCHS is not installed (Debian gavodachs2-server; "
            ".ci/install.d/50-conformance-peers.sh)"
        )
    for tool in ("initdb", "pg_ctl", "createdb"):
        if not (PG_BIN / tool).exists():
            return f"PostgreSQL's {tool} not found in {PG_BIN} (Debian postgresql-15)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root needs runuser to start PostgreSQL as the postgres user"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root needs the postgres system user (Debian postgresql)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class DaCHS:
    """A private PostgreSQL + DaCHS; ``tap`` is the TAP base URL (``/tap``)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="conformance-dachs-"))
        self.pg_port = free_port()
        self.web_port = free_port()
        self.tap = f"http://127.0.0.1:{self.web_port}/tap"
        self.server: subprocess.Popen[bytes] | None = None
        self._pg_started = False
        self.env = {
            **os.environ,
            "GAVOSETTINGS": str(self.dir / "gavo.rc"),
            "GAVOCUSTOM": str(self.dir / "no-such-gavorc"),
        }

    # -- PostgreSQL ----------------------------------------------------------------------
    def _as_postgres(self, *command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def _run(self, command: list[str], what: str, env: dict[str, str] | None = None) -> None:
        log = self.dir / "setup.log"
        with log.open("ab") as out:
            out.write(f"$ {' '.join(command)}\n".encode())
            out.flush()
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False
            )
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{what} failed (exit {done.returncode}):\n{tail}")

    def _start_postgres(self) -> None:
        pg, sock = self.dir / "pg", self.dir / "sock"
        pg.mkdir()
        sock.mkdir()
        self.dir.chmod(0o755)  # the postgres user must reach pg/ and sock/
        if os.geteuid() == 0:
            uid = pwd.getpwnam("postgres").pw_uid
            for path in (pg, sock):
                os.chown(path, uid, -1)
        self._run(
            self._as_postgres(
                str(PG_BIN / "initdb"), "-D", str(pg), "-A", "trust", "-U", "postgres", "-E", "UTF8"
            ),
            "initdb",
        )
        options = f"-p {self.pg_port} -k {sock} -c listen_addresses='' -c fsync=off"
        self._run(
            self._as_postgres(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(pg),
                "-l",
                str(pg / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ),
            "pg_ctl start",
        )
        self._pg_started = True
        self._run(
            self._as_postgres(
                str(PG_BIN / "createdb"),
                "-h",
                str(sock),
                "-p",
                str(self.pg_port),
                "-U",
                "postgres",
                "--encoding=UTF-8",
                "--template",
                "template0",
                "gavo",
            ),
            "createdb gavo",
        )

    def _stop_postgres(self) -> None:
        if not self._pg_started:
            return
        with contextlib.suppress(Exception):
            subprocess.run(
                self._as_postgres(
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.dir / "pg"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )
        self._pg_started = False

    # -- DaCHS ---------------------------------------------------------------------------
    def _settings(self) -> None:
        (self.dir / "gavo.rc").write_text(
            "[general]\n"
            f"rootDir: {self.dir / 'gavo'}\n"
            "[web]\n"
            f"serverPort: {self.web_port}\n"
            f"serverURL: http://127.0.0.1:{self.web_port}\n"
            "bindAddress: 127.0.0.1\n"
            "user:\n"
        )

    def _init_dachs(self) -> None:
        dsn = f"host={self.dir / 'sock'} port={self.pg_port} user=postgres dbname=gavo"
        self._run(["dachs", "init", "-d", dsn], "dachs init", self.env)
        for user, password in USERS.items():
            self._run(["dachs", "adm", "adduser", user, password], f"adduser {user}", self.env)

    def _serve(self) -> None:
        with (self.dir / "serve.log").open("wb") as log:
            self.server = subprocess.Popen(
                ["dachs", "serve", "debug"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(
                    "dachs serve exited:\n" + (self.dir / "serve.log").read_text()[-3000:]
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.tap + "/availability", timeout=5).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"DaCHS did not answer on {self.tap} within {START_TIMEOUT:.0f} s")

    def _stop_server(self) -> None:
        if self.server is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.server.pid, signal.SIGTERM)
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(timeout=10)
        self.server = None

    # -- context -------------------------------------------------------------------------
    def __enter__(self) -> DaCHS:
        try:
            self._settings()
            self._start_postgres()
            self._init_dachs()
            self._serve()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_server()
        self._stop_postgres()
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    reason = missing()
    if reason:
        raise SystemExit(reason)
    with DaCHS() as dachs:
        print(dachs.tap, "users:", ", ".join(f"{u}:{p}" for u, p in USERS.items()), flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill, too
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
