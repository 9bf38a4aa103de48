"""Broker job id <-> named-server name, and owner -> hub user name.

JupyterHub 6 accepts server names that are "safe slugs": 1-30 characters,
lower-case letters, digits and single hyphens, starting with a letter and
ending with a letter or digit. Broker job ids are UUIDs (36 characters), so:

1. a UUID job id becomes ``{prefix}u{base32(uuid bytes)}`` (26 characters,
   RFC 4648 alphabet lower-cased, no padding): ``ivbu...``, 30 characters;
2. another job id that is itself a short safe slug becomes ``{prefix}-{job_id}``;
3. anything else becomes ``{prefix}h{sha256(job_id)[:26 - len(prefix)]}``: still
   marked as the broker's, but not reversible (orphan sweeps skip it).

Rules 1 and 2 read back exactly, so orphans are found by name (``list_native``).
The native id of a job is ``{user}/{server}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid

__all__ = ["job_id_from_server", "native_id", "server_name", "split_native", "valid_user"]

MAX_NAME = 30
_SLUG = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_PLAIN = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_B32 = re.compile(r"^[a-z2-7]{26}$")
_USER = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")


def _uuid(job_id: str) -> uuid.UUID | None:
    try:
        value = uuid.UUID(job_id)
    except ValueError:
        return None
    return value if str(value) == job_id else None


def server_name(prefix: str, job_id: str) -> str:
    """The server name of ``job_id`` (see the module docstring)."""
    if not job_id:
        raise ValueError("empty job id")
    as_uuid = _uuid(job_id)
    if as_uuid is not None:
        return f"{prefix}u{base64.b32encode(as_uuid.bytes).decode().rstrip('=').lower()}"
    plain = f"{prefix}-{job_id}"
    if _PLAIN.match(job_id) and len(plain) <= MAX_NAME:
        return plain
    digest = hashlib.sha256(job_id.encode()).hexdigest()
    return f"{prefix}h{digest[: MAX_NAME - len(prefix) - 1]}"


def job_id_from_server(prefix: str, name: str) -> str | None:
    """The job id in a server name made by :func:`server_name`, else None."""
    if name.startswith(f"{prefix}-"):
        job_id = name[len(prefix) + 1 :]
        return job_id if _PLAIN.match(job_id) else None
    if name.startswith(f"{prefix}u"):
        encoded = name[len(prefix) + 1 :]
        if not _B32.match(encoded):
            return None
        try:
            return str(uuid.UUID(bytes=base64.b32decode(encoded.upper() + "======")))
        except (binascii.Error, ValueError):
            return None
    return None


def is_ours(prefix: str, name: str) -> bool:
    return name.startswith((f"{prefix}-", f"{prefix}u", f"{prefix}h"))


def valid_server(name: str) -> bool:
    return len(name) <= MAX_NAME and bool(_SLUG.match(name))


def valid_user(name: str) -> bool:
    """Whether ``name`` is a hub user name this adapter uses (normalised, lower case)."""
    return bool(_USER.match(name))


def native_id(user: str, server: str) -> str:
    return f"{user}/{server}"


def split_native(native: str) -> tuple[str, str]:
    user, sep, server = native.partition("/")
    if not sep or not user or not server:
        raise ValueError(f"not a jupyterhub native id: {native!r}")
    return user, server
