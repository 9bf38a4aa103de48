"""Broker job id <-> named-server name, and owner -> hub user name.

Server names are ``{prefix}-{job_id}`` when the job id is lower-case
``[a-z0-9-]`` (broker job ids are UUIDs), else ``{prefix}x-{base32(job_id)}``;
both read back exactly, so orphans are found by name (``list_native``).
The native id of a job is ``{user}/{server}``.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["job_id_from_server", "native_id", "server_name", "split_native", "valid_user"]

MAX_NAME = 255
_PLAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_B32 = re.compile(r"^[a-z2-7]+$")
_USER = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")


def server_name(prefix: str, job_id: str) -> str:
    if not job_id:
        raise ValueError("empty job id")
    if _PLAIN.match(job_id) and len(job_id) + len(prefix) + 1 <= MAX_NAME:
        return f"{prefix}-{job_id}"
    encoded = base64.b32encode(job_id.encode()).decode().rstrip("=").lower()
    if len(encoded) + len(prefix) + 2 > MAX_NAME:
        raise ValueError("job id too long for a server name")
    return f"{prefix}x-{encoded}"


def job_id_from_server(prefix: str, name: str) -> str | None:
    """The job id in a server name made by :func:`server_name`, else None."""
    if name.startswith(f"{prefix}-"):
        job_id = name[len(prefix) + 1 :]
        return job_id if _PLAIN.match(job_id) else None
    if name.startswith(f"{prefix}x-"):
        encoded = name[len(prefix) + 2 :]
        if not _B32.match(encoded):
            return None
        try:
            return base64.b32decode(encoded.upper() + "=" * (-len(encoded) % 8)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


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
