"""Core-side input staging: the broker fetches a job's ``http(s)`` inputs itself.

The rule (documented in ``docs/adapters/writing.md``):

* Only adapters whose (instance) capabilities say ``staged_inputs=True`` get
  staged inputs; every other adapter gets ``request.inputs`` as URLs, as before,
  and fetches them itself.
* For those adapters, every ``http://`` or ``https://`` input is downloaded by
  the core, just before ``submit``, into a fresh private folder (mode 0700) and
  handed over in ``request.staged_inputs`` (one :class:`StagedInput` per
  downloaded URL, in the order of ``inputs``: the URL, the local path, the size).
  Other schemes (``s3://``, ``ivo://``, ``file://``) are never fetched by the
  core and stay URLs only.
* Bounded: at most ``jobs.input_max_bytes`` for all inputs of one job together
  (a larger ``Content-Length`` is refused before reading, a body that grows past
  it is cut off), ``jobs.input_timeout`` seconds per input, at most 5 redirects,
  and a redirect may not leave ``http(s)``. A failure is the job's ERROR, with
  the URL and the reason; nothing is submitted.
* The files live only while ``submit`` runs: the folder is deleted when it
  returns (or raises). An adapter keeps what it needs by copying (or
  hard-linking) the files during ``submit``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from ivoa_broker.protocol import StagedInput

__all__ = ["MAX_REDIRECTS", "StagingError", "fetchable", "stage_inputs"]

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class StagingError(Exception):
    """An input could not be staged; the message names the URL and says why."""


def fetchable(url: str) -> bool:
    """Whether the core fetches ``url`` (``http`` and ``https`` only)."""
    return urlsplit(url).scheme.lower() in ("http", "https")


def _file_name(index: int, url: str) -> str:
    """``<n>-<last path segment>``, reduced to safe characters (never empty)."""
    segment = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
    safe = _UNSAFE.sub("_", segment)[:100].lstrip(".") or "input"
    return f"{index:03d}-{safe}"


async def _fetch(
    client: httpx.AsyncClient, url: str, path: Path, budget: int, timeout: float
) -> int:
    """Download ``url`` to ``path``; its size. At most ``budget`` bytes."""
    try:
        async with client.stream("GET", url, timeout=timeout) as response:
            if not fetchable(str(response.url)):
                raise StagingError(f"input {url}: redirected away from http(s)")
            if response.status_code != 200:
                raise StagingError(
                    f"input {url}: HTTP {response.status_code} {response.reason_phrase}"
                )
            declared = response.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > budget:
                raise StagingError(
                    f"input {url}: {int(declared)} bytes is more than the {budget} left "
                    "for this job's inputs"
                )
            size = 0
            with path.open("wb") as out:
                async for chunk in response.aiter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > budget:
                        raise StagingError(
                            f"input {url}: more than the {budget} bytes left for this job's inputs"
                        )
                    out.write(chunk)
            return size
    except httpx.UnsupportedProtocol as exc:  # the URL itself is http(s): a redirect
        raise StagingError(f"input {url}: redirected away from http(s)") from exc
    except httpx.TooManyRedirects as exc:
        raise StagingError(f"input {url}: more than {MAX_REDIRECTS} redirects") from exc
    except httpx.TimeoutException as exc:
        raise StagingError(f"input {url}: no answer within {timeout:g} s") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise StagingError(f"input {url}: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise StagingError(f"input {url}: cannot store it: {exc.strerror or exc}") from exc


@contextlib.asynccontextmanager
async def stage_inputs(
    urls: Sequence[str],
    *,
    max_bytes: int,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[tuple[StagedInput, ...]]:
    """Download the ``http(s)`` URLs among ``urls`` into a private temporary folder.

    Yields the staged inputs (in order); the folder is removed on exit. Raises
    :class:`StagingError` (nothing left behind) when any input fails.
    """
    wanted = [url for url in urls if fetchable(url)]
    if not wanted:
        yield ()
        return
    folder = Path(tempfile.mkdtemp(prefix="ivoa-broker-inputs-"))
    try:
        os.chmod(folder, 0o700)
        staged: list[StagedInput] = []
        budget = max_bytes
        async with httpx.AsyncClient(
            follow_redirects=True, max_redirects=MAX_REDIRECTS, transport=transport
        ) as client:
            for index, url in enumerate(wanted):
                path = folder / _file_name(index, url)
                size = await _fetch(client, url, path, budget, timeout)
                budget -= size
                staged.append(StagedInput(url=url, path=str(path), size_bytes=size))
        yield tuple(staged)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
