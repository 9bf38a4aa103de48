"""A guest stand-in for nova's fake virt driver, which boots nothing.

:class:`GuestStandIn` does what a real guest would do after boot: it watches the project's
servers, and for every ACTIVE one named with the adapter's prefix it reads the server's
``user_data`` back from Nova (needs admin, compute microversion >= 2.3), runs that script
locally (the part cloud-init would run), lets the script's callback reach the broker, and
powers the server off through the API when the script calls ``poweroff``.

Two shims on the script's ``PATH`` keep it from touching this machine: ``poweroff`` only
leaves a mark (the stand-in then stops the server via Nova), and with ``deliver`` given,
``curl -X POST`` only records its arguments, which the stand-in parses (``-F`` fields and
files, ``-H @file`` bearer token, URL) and hands to ``deliver`` (adapter-level tests call
``adapter.receive_callback`` there). Without ``deliver`` the script's real curl posts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from ._client import OpenStackClient, ServerInfo

__all__ = ["Deliver", "GuestRun", "GuestStandIn", "parse_curl_post"]

log = logging.getLogger(__name__)

#: (url, bearer secret, form fields, form files) -> None
Deliver = Callable[[str, str, dict[str, str], dict[str, bytes]], Awaitable[None]]

_POWEROFF = '#!/bin/sh\n: > "$IVOA_STANDIN_DIR/poweroff"\n'
_CURL = """#!/bin/sh
for a in "$@"; do
  if [ "$a" = POST ]; then
    # the script removes its files after curl: keep a copy of its work dir for the stand-in
    cp -a "$PWD" "$IVOA_STANDIN_DIR/capture" &&
      printf '%s\\0' "$PWD" "$@" > "$IVOA_STANDIN_DIR/curl.args"
    exit 0
  fi
done
exec {real} "$@"
"""


@dataclass
class GuestRun:
    server_id: str
    returncode: int | None = None
    delivered: bool = False
    powered_off: bool = False
    error: BaseException | None = None
    output: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)


def parse_curl_post(args: list[str]) -> tuple[str, str, dict[str, str], dict[str, bytes]]:
    """The URL, bearer secret, fields and files of a ``curl -F ... -H ... URL`` call."""
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    secret = ""
    url = args[-1]
    it = iter(args[:-1])
    for arg in it:
        if arg == "-F":
            name, _, value = next(it).partition("=")
            if value.startswith("@"):
                files[name] = Path(value[1:].split(";", 1)[0]).read_bytes()
            else:
                fields[name] = value
        elif arg == "-H":
            header = next(it)
            lines = (
                Path(header[1:]).read_text().splitlines() if header.startswith("@") else [header]
            )
            for line in lines:
                key, _, value = line.partition(":")
                if key.strip().lower() == "authorization" and value.strip().startswith("Bearer "):
                    secret = value.strip()[len("Bearer ") :]
    return url, secret, fields, files


class GuestStandIn:
    """Runs the user_data of ACTIVE servers locally, as their guests would."""

    def __init__(
        self,
        client: OpenStackClient,
        workdir: Path,
        *,
        name_prefix: str = "ivoa-broker-",
        deliver: Deliver | None = None,
        skip: Callable[[ServerInfo], bool] = lambda server: False,
        poll_seconds: float = 0.3,
        script_timeout: float = 300.0,
    ) -> None:
        self.client = client
        self.workdir = workdir
        self.name_prefix = name_prefix
        self.deliver = deliver
        self.skip = skip
        self.poll_seconds = poll_seconds
        self.script_timeout = script_timeout
        self.runs: dict[str, GuestRun] = {}
        self.errors: list[BaseException] = []
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._running: dict[str, asyncio.Task[None]] = {}

    async def __aenter__(self) -> GuestStandIn:
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks = [t for t in (self._task, *self._jobs) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _watch(self) -> None:
        while True:
            try:
                servers = await self.client.list_servers(self.name_prefix)
            except Exception as exc:  # keep watching; tests look at .errors
                self.errors.append(exc)
                servers = []
            for server in servers:
                if (
                    server.status == "ACTIVE"
                    and server.id not in self.runs
                    and not self.skip(server)
                ):
                    run = self.runs[server.id] = GuestRun(server.id)
                    task = asyncio.create_task(self._guest(run))
                    self._jobs.add(task)
                    self._running[server.id] = task
                    task.add_done_callback(self._jobs.discard)
                    task.add_done_callback(functools.partial(self._forget, server.id))
            await asyncio.sleep(self.poll_seconds)

    def _forget(self, server_id: str, task: asyncio.Task[None]) -> None:
        self._running.pop(server_id, None)

    async def _guest(self, run: GuestRun) -> None:
        try:
            await self._boot(run)
        except asyncio.CancelledError:
            run.error = RuntimeError("the server went away while its guest ran")
        except Exception as exc:
            run.error = exc
            self.errors.append(exc)
            log.exception("guest stand-in: server %s failed", run.server_id)
        finally:
            run.done.set()

    async def _boot(self, run: GuestRun) -> None:
        server = await self.client.get_server(run.server_id)
        if server is None or server.status != "ACTIVE" or server.task_state == "deleting":
            run.error = RuntimeError("the server went away before its guest ran")
            return  # deleted (e.g. cancelled) between the list and now: the guest never runs
        if not server.user_data:
            raise RuntimeError(f"server {run.server_id} has no readable user_data (admin needed)")
        script = base64.b64decode(server.user_data)
        home = self.workdir / run.server_id
        shims = home / "bin"
        tmp = home / "tmp"
        shims.mkdir(parents=True)
        tmp.mkdir()
        (shims / "poweroff").write_text(_POWEROFF)
        if self.deliver is not None:
            real = shutil.which("curl") or "/usr/bin/curl"
            (shims / "curl").write_text(_CURL.format(real=real))
        for shim in shims.iterdir():
            shim.chmod(0o755)
        (home / "user-data").write_bytes(script)
        env = {
            "PATH": f"{shims}:/usr/local/bin:/usr/bin:/bin",
            "TMPDIR": str(tmp),
            "HOME": str(home),
            "IVOA_STANDIN_DIR": str(home),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            str(home / "user-data"),
            cwd=home,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.script_timeout)
        except BaseException:  # timeout, or the server was deleted, or shutdown: the guest dies
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        run.returncode = proc.returncode
        run.output = out.decode(errors="replace")
        captured = home / "curl.args"
        if self.deliver is not None and captured.exists():
            workdir, *args = captured.read_bytes().decode().split("\0")[:-1]
            copy = str(home / "capture")
            args = [a.replace(workdir, copy) for a in args]
            await self.deliver(*parse_curl_post(args))
            run.delivered = True
        if (home / "poweroff").exists():
            await self.client.stop_server(run.server_id)
            run.powered_off = True
