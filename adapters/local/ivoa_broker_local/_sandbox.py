"""The job sandbox: what a local job may see of the broker's machine.

By default every job runs inside `bubblewrap <https://github.com/containers/bubblewrap>`_
(``bwrap``, Debian package ``bubblewrap``) with new user, PID, IPC, UTS and
cgroup namespaces (the network is shared unless ``sandbox_network = false``):

* the file system is rebuilt from read-only system parts only: ``/usr`` (and the
  merged-usr links ``/bin``, ``/lib``, ...), a short list of harmless files of
  ``/etc`` (:data:`ETC_ENTRIES`), the configured ``sandbox_paths``, and the
  command's own executable when it lives elsewhere;
* the job's own directory is visible read-only at its real path, its ``out/``
  read-write (the command's working directory); ``/tmp`` is a private tmpfs,
  ``/dev`` a minimal one, ``/proc`` shows the job's own processes only;
* nothing else: not the broker's configuration, store or token files, not the
  other jobs' directories, not ``/proc`` of the broker (so not its command line,
  environment or open files), not ``/sys`` or ``/run``;
* the job runs as ``nobody`` (65534) inside its user namespace, with no
  capabilities, even when the broker runs as root.

:func:`wrap` is the one hook: given a job directory and argv it returns the
argv and environment to execute instead. :func:`probe` tries the sandbox once
(at ``open``) so that a machine without it is reported, not discovered by the
first job.

Under bubblewrap a job killed by signal N is seen by the supervisor as an exit
with status 128 + N (bubblewrap's init reports it so): the supervisor decodes it
(:data:`EXIT_CODES_CARRY_SIGNALS` in the job spec), so a command that itself
exits with a status above 128 is reported as killed by that signal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ._runner import SANDBOXED_KEY

__all__ = [
    "ETC_ENTRIES",
    "EXIT_CODES_CARRY_SIGNALS",
    "SANDBOX_UID",
    "Sandbox",
    "SandboxUnavailable",
    "probe",
    "wrap",
]

#: the job spec key that tells the supervisor how to read exit statuses
EXIT_CODES_CARRY_SIGNALS = SANDBOXED_KEY
#: the user (and group) a job is inside its namespace
SANDBOX_UID = 65534
#: harmless parts of ``/etc`` a program may need (name lookup, TLS roots, locale,
#: the dynamic linker's cache); anything else of ``/etc`` stays hidden
ETC_ENTRIES: tuple[str, ...] = (
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "fonts",
    "gai.conf",
    "group",
    "host.conf",
    "hostname",
    "hosts",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "magic",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "profile",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
    "timezone",
)
#: top-level system directories bound read-only when they are directories, or
#: re-created as the same symbolic links (merged /usr)
_SYSTEM_ROOTS: tuple[str, ...] = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: how a command is executed inside: ``exec`` reports a missing program or
#: interpreter with the shell's usual 127/126 and a message on stderr
_EXEC_SHIM = ("/bin/sh", "-c", 'exec "$0" "$@"')
_PROBE_TIMEOUT_SECONDS = 20.0


class SandboxUnavailable(Exception):
    """The sandbox cannot be used on this machine (the message says why)."""


@dataclass(frozen=True)
class Sandbox:
    """A working bubblewrap setup: the executable and what jobs may see."""

    bwrap: str
    network: bool = True
    paths: tuple[Path, ...] = ()

    def base_args(self) -> list[str]:
        """The namespace and file system options shared by every job (looked up
        on the first job of this sandbox, then kept: the system folders and
        ``/etc`` entries it binds are the machine's, not the job's)."""
        return list(self._base_args)

    @cached_property
    def _base_args(self) -> tuple[str, ...]:
        args = [
            self.bwrap,
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--die-with-parent",
            "--cap-drop",
            "ALL",
        ]
        if not self.network:
            args.append("--unshare-net")
        for root in _SYSTEM_ROOTS:
            if os.path.islink(root):
                args += ["--symlink", os.readlink(root), root]
            elif os.path.isdir(root):
                args += ["--ro-bind", root, root]
        for name in ETC_ENTRIES:
            path = f"/etc/{name}"
            if os.path.lexists(path):
                args += ["--ro-bind-try", path, path]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for extra in self.paths:  # after /tmp: a path under /tmp stays visible
            args += ["--ro-bind-try", str(extra), str(extra)]
        return tuple(args)

    def visible(self, path: str) -> bool:
        """Whether ``path`` (absolute) is inside what the sandbox shows of the host."""
        roots = [*_SYSTEM_ROOTS, *(str(p) for p in self.paths)]
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _executable(argv0: str, env: Mapping[str, str], shown: Callable[[str], bool]) -> str | None:
    """The absolute path the command's first word runs, as the job's PATH finds it.

    A match the sandbox already shows wins over an earlier one it hides: on a host whose
    ``PATH`` starts with a version manager's shims (pyenv, asdf), ``python3`` is a script
    that needs the manager's whole tree, and the system's ``/usr/bin/python3`` is what
    the job can actually run. Only when no shown match exists is the first match used
    (and bound into the sandbox).
    """
    if "/" in argv0:
        return argv0
    first: str | None = None
    for folder in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = shutil.which(argv0, path=folder) if folder else None
        if candidate is None:
            continue
        if shown(candidate):
            return candidate
        first = first or candidate
    return first


def wrap(
    sandbox: Sandbox,
    job_dir: Path,
    out_dir: Path,
    argv: Sequence[str],
    env: Mapping[str, str],
    runtime: Sequence[str] = (),
    writable: Sequence[Path] = (),
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run ``argv`` inside ``sandbox``.

    ``job_dir`` is visible read-only, ``out_dir`` read-write and the working
    directory. The command's executable is bound read-only at its own path when
    the system part of the sandbox does not show it, and so is each path of
    ``runtime`` (what the adapter's own runners need, e.g. the notebook runner's
    interpreter). Each folder of ``writable`` (inside ``job_dir``, e.g. the notebook
    runner's state) is bound read-write. ``HOME`` and ``TMPDIR`` point at the private
    ``/tmp``.
    """
    args = sandbox.base_args()
    args += ["--ro-bind", str(job_dir), str(job_dir), "--bind", str(out_dir), str(out_dir)]
    for folder in writable:
        args += ["--bind", str(folder), str(folder)]
    for path in runtime:
        if not sandbox.visible(path):
            args += ["--ro-bind", path, path]
    command = list(argv)
    shown = (job_dir, *(Path(path) for path in runtime))

    def is_shown(path: str) -> bool:
        return sandbox.visible(path) or _inside_any(path, shown)

    found = _executable(command[0], env, is_shown)
    if found is not None and not is_shown(found):
        args += ["--ro-bind", found, found]
        command[0] = found
    args += ["--chdir", str(out_dir), "--", *_EXEC_SHIM, *command]
    wrapped_env = dict(env)
    wrapped_env["HOME"] = "/tmp"
    wrapped_env["TMPDIR"] = "/tmp"
    return args, wrapped_env


def _inside_any(path: str, shown: Sequence[Path]) -> bool:
    return any(path == str(top) or path.startswith(str(top).rstrip("/") + "/") for top in shown)


def probe(bwrap: str | None, *, network: bool = True, paths: Sequence[Path] = ()) -> Sandbox:
    """A :class:`Sandbox` that was seen to work here, or :class:`SandboxUnavailable`.

    ``bwrap`` is the executable (a name looked up on the broker's ``PATH``, or a
    path); the probe runs ``/bin/sh -c 'exit 0'`` inside the same namespaces a
    job gets (user namespaces may be disabled, seccomp may forbid them).
    Blocking: call it in a thread.
    """
    found = shutil.which(bwrap or "bwrap")
    if found is None:
        raise SandboxUnavailable(
            f"bubblewrap ({bwrap or 'bwrap'}) is not installed (Debian package 'bubblewrap')"
        )
    sandbox = Sandbox(bwrap=os.path.abspath(found), network=network, paths=tuple(paths))
    try:
        done = subprocess.run(
            [*sandbox.base_args(), "--", *_EXEC_SHIM, "/bin/true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_SECONDS,
            check=False,
            env={"PATH": os.defpath, "LANG": "C.UTF-8"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap could not be run: {exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise SandboxUnavailable(f"bubblewrap cannot create a sandbox here: {reason}")
    return sandbox
