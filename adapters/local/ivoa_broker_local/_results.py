"""Results of a local job and the scheme of their ids.

Result ids are unique, stable, and made only of URL-unreserved characters
(``A-Z a-z 0-9 . _ - ~``), so they can stand as one URL path segment unquoted:

* ``stdout`` and ``stderr``: the command's standard output and error;
* every regular file under ``out/`` (symbolic links and other special files are
  skipped, and nothing outside ``out/`` is ever listed): its path relative to
  ``out/``, UTF-8 encoded, with each byte outside ``A-Z a-z 0-9 . _ -`` written
  as ``~XX`` (two upper-case hex digits); ``/`` thus becomes ``~2F``:
  ``plots/a b.png`` -> ``plots~2Fa~20b.png``. The scheme is injective because a
  literal ``~`` is always escaped. A top-level file named ``stdout`` or
  ``stderr`` has its first letter escaped (``~73tdout``) so that it cannot
  shadow the streams.

At most ``max_files`` files of ``out/`` are listed, in sorted path order.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from pathlib import Path

from ivoa_broker.protocol import ResultRef

__all__ = ["STREAM_IDS", "decode_result_id", "encode_result_id", "guess_mime", "list_results"]

STREAM_IDS = ("stdout", "stderr")
_KEEP = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")

_EXTRA_TYPES = {
    ".fits": "application/fits",
    ".fit": "application/fits",
    ".fts": "application/fits",
    ".vot": "application/x-votable+xml",
    ".votable": "application/x-votable+xml",
    ".parquet": "application/vnd.apache.parquet",
    ".log": "text/plain",
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".ipynb": "application/x-ipynb+json",
}


def encode_result_id(relative: str) -> str:
    """The result id of ``out/<relative>`` (``relative`` uses ``/`` separators)."""
    raw = relative.encode("utf-8", errors="surrogateescape")
    encoded = "".join(chr(b) if b in _KEEP else f"~{b:02X}" for b in raw)
    if encoded in STREAM_IDS:
        encoded = f"~{raw[0]:02X}{encoded[1:]}"
    return encoded


def decode_result_id(result_id: str) -> str:
    """The inverse of :func:`encode_result_id` (raises ``ValueError`` if malformed)."""
    out = bytearray()
    i = 0
    while i < len(result_id):
        ch = result_id[i]
        if ch == "~":
            pair = result_id[i + 1 : i + 3]
            if len(pair) != 2 or not all(c in "0123456789ABCDEF" for c in pair):
                raise ValueError(f"bad escape in result id {result_id!r}")
            out.append(int(pair, 16))
            i += 3
        elif ord(ch) < 128 and ord(ch) in _KEEP:
            out.append(ord(ch))
            i += 1
        else:
            raise ValueError(f"not a result id: {result_id!r}")
    return out.decode("utf-8", errors="surrogateescape")


def guess_mime(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _EXTRA_TYPES:
        return _EXTRA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def _stream(result_id: str, path: Path) -> ResultRef | None:
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return ResultRef(id=result_id, path=path, mime_type="text/plain", size=info.st_size)


def list_results(job_path: Path, *, max_files: int) -> list[ResultRef]:
    """stdout, stderr and the regular files of ``out/`` (blocking: run in a thread)."""
    refs = [
        ref for ref in (_stream(name, job_path / name) for name in STREAM_IDS) if ref is not None
    ]
    out = job_path / "out"
    found: list[tuple[str, Path, int]] = []
    try:
        if not stat.S_ISDIR(out.lstat().st_mode):  # never follow a job-made symlink
            return refs
    except OSError:
        return refs
    for root, dirs, files in os.walk(out, followlinks=False):
        dirs.sort()
        for name in files:
            path = Path(root) / name
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found.append((path.relative_to(out).as_posix(), path, info.st_size))
    found.sort()
    for relative, path, size in found[:max_files]:
        refs.append(
            ResultRef(
                id=encode_result_id(relative),
                path=path,
                mime_type=guess_mime(path.name),
                size=size,
            )
        )
    return refs
