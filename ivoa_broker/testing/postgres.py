"""A throw-away PostgreSQL server for tests: ``initdb`` into a fresh folder, its own
free port on 127.0.0.1 and its unix socket in that folder, stopped and removed at the end.

PostgreSQL refuses to run as root, so when the tests run as root the folder is
handed to the ``postgres`` account (made by Debian's package; ``nobody`` otherwise)
and the server runs as it (``runuser``). Authentication is ``trust`` on loopback
only: nothing but this machine's processes can reach it, for as long as a test
run lasts.

>>> server = PostgresServer.start()          # doctest: +SKIP
>>> url = server.create_database("t1")       # postgresql://broker@127.0.0.1:PORT/t1
>>> server.stop()
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

USER = "broker"


class PostgresUnavailable(Exception):
    """PostgreSQL's server programs are not installed."""


def bindir() -> Path:
    """Where ``initdb``/``pg_ctl`` live (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PostgresUnavailable(
            "PostgreSQL server programs (initdb, pg_ctl) not found: apt-get install postgresql"
        )
    return Path(initdb).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runas() -> list[str]:
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return ["runuser", "-u", name, "--"]
    raise PostgresUnavailable("running as root and no unprivileged account to run PostgreSQL")


@dataclass
class PostgresServer:
    folder: Path
    port: int
    bindir: Path
    prefix: list[str]

    @property
    def socket_dir(self) -> Path:
        return self.folder / "run"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, folder: Path | None = None) -> PostgresServer:
        """initdb + pg_ctl start; returns when the server accepts connections."""
        bins = bindir()
        prefix = _runas()
        top = Path(tempfile.mkdtemp(prefix="ivoa-broker-pg-")) if folder is None else folder
        (top / "run").mkdir(parents=True, exist_ok=True)
        if prefix:
            account = pwd.getpwnam(prefix[2])
            for path in (top, top / "run"):
                os.chown(path, account.pw_uid, account.pw_gid)
        data = top / "data"
        subprocess.run(
            [*prefix, str(bins / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
             "-E", "UTF8", "--no-instructions", "--no-sync"],
            check=True, capture_output=True, cwd=top,
        )  # fmt: skip
        last: subprocess.CalledProcessError | None = None
        for _ in range(5):  # the free port may be taken between the probe and the bind
            server = cls(top, _free_port(), bins, prefix)
            options = (
                f"-p {server.port} -k {server.socket_dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            try:
                subprocess.run(
                    [*prefix, str(bins / "pg_ctl"), "-D", str(data), "-w", "-t", "60",
                     "-l", str(top / "server.log"), "-o", options, "start"],
                    check=True, capture_output=True, cwd=top,
                )  # fmt: skip
                return server
            except subprocess.CalledProcessError as exc:
                last = exc
                time.sleep(0.2)
        log = (
            (top / "server.log").read_text(errors="replace")
            if (top / "server.log").exists()
            else ""
        )
        raise RuntimeError(f"PostgreSQL did not start: {last}\n{log[-2000:]}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", USER, "-d", database, "-c", sql],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip()

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"),
             "-m", "immediate", "-w", "stop"],
            capture_output=True, cwd=self.folder,
        )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)
