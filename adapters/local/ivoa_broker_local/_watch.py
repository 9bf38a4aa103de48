"""Learning that a supervisor ended, by event rather than by polling.

Linux pidfds (``pidfd_open``) become readable when their process ends, whether
or not it is a child of this process. The watcher registers each with the
event loop and, once fired, reaps the process if it is our child (``waitid``
on the pidfd itself, so a recycled pid can never be reaped by mistake) and
calls ``on_exit(native_id)`` once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from ._procs import ProcIdentity, is_alive, read_stat

__all__ = ["ExitWatcher", "reap_if_child", "reap_zombie"]


def reap_if_child(pidfd: int) -> None:
    """Reap the ended process behind ``pidfd`` if it is our child; else do nothing."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)


def reap_zombie(ident: ProcIdentity) -> None:
    """Reap ``ident`` if it is an ended, unreaped child of this process.

    A supervisor started by an adapter instance that was discarded before it
    ended stays a zombie of the broker until someone reaps it; status calls
    do that here (blocking, cheap).
    """
    stat = read_stat(ident.pid)
    if stat is None or stat.state != "Z" or stat.ppid != os.getpid():
        return
    if stat.start_ticks != ident.start_ticks:
        return
    try:
        fd = os.pidfd_open(ident.pid)
    except OSError:
        return
    try:
        again = read_stat(ident.pid)  # the pidfd names the same zombie (no reuse meanwhile)
        if again is not None and again.start_ticks == ident.start_ticks:
            reap_if_child(fd)
    finally:
        os.close(fd)


class ExitWatcher:
    """One pidfd per watched supervisor, all on one event loop."""

    def __init__(self, on_exit: Callable[[str], None]) -> None:
        self._on_exit = on_exit
        self._fds: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def watching(self, native_id: str) -> bool:
        return native_id in self._fds

    def watch(self, native_id: str, ident: ProcIdentity) -> bool:
        """Start watching; ``False`` if the process has already ended (or pidfds
        are unavailable), in which case the caller decides what to do now."""
        if native_id in self._fds:
            return True
        loop = asyncio.get_running_loop()
        self._loop = loop
        try:
            fd = os.pidfd_open(ident.pid)
        except (OSError, AttributeError):
            return False
        # the pidfd names whatever process had that pid when it was opened: make
        # sure it is still the supervisor (pid reuse) and still running
        if not is_alive(ident):
            reap_if_child(fd)
            os.close(fd)
            return False
        self._fds[native_id] = fd
        loop.add_reader(fd, self._fired, native_id)
        return True

    def _fired(self, native_id: str) -> None:
        fd = self._fds.pop(native_id, None)
        if fd is None:  # pragma: no cover - unwatched meanwhile
            return
        self._release(fd)
        self._on_exit(native_id)

    def _release(self, fd: int) -> None:
        if self._loop is not None:
            self._loop.remove_reader(fd)
        reap_if_child(fd)
        os.close(fd)

    def unwatch(self, native_id: str) -> None:
        fd = self._fds.pop(native_id, None)
        if fd is not None:
            self._release(fd)

    def close(self) -> None:
        """Stop watching everything (the processes themselves are left alone)."""
        for native_id in list(self._fds):
            fd = self._fds.pop(native_id)
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(fd)
            os.close(fd)
