"""How a broker job id becomes a skaha session name, and back.

skaha accepts names matching ``[A-Za-z0-9-]+``, stores them lower-cased and
uses them as a Kubernetes host name, so names are kept lower-case and at most
:data:`MAX_NAME` characters. The rule (``prefix`` is ``name_prefix`` from the
configuration, ``ivb`` by default):

1. ``{prefix}-{job_id}`` when the job id is already lower-case
   ``[a-z0-9-]`` and the name fits;
2. otherwise ``{prefix}x-{base32(job_id)}`` (RFC 4648 alphabet lower-cased,
   padding removed) when that fits;
3. otherwise ``{prefix}h-{sha256(job_id)[:24]}``: such a name still marks the
   session as the broker's, but the job id cannot be read back from it, so
   :func:`job_id_from_name` returns ``None`` and orphan sweeps skip it.

Rules 1 and 2 are exactly reversible.

The replicas of a job (extension ``canfar.replicas``) are named as the
``canfar`` client names them, ``{base}-{i}`` for ``i`` in ``1..N``, where
``{base}`` is always rule 2 (or rule 3 when that does not fit): a base32 text
has no ``-``, so the replica number cannot be mistaken for part of a job id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

MAX_NAME = 50
_PLAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_B32 = re.compile(r"^[a-z2-7]+$")
_REPLICA = re.compile(r"^(?P<base>.+)-(?P<number>[1-9][0-9]{0,2})$")


def session_name(prefix: str, job_id: str) -> str:
    """The session name for ``job_id`` (see the module docstring)."""
    if not job_id:
        raise ValueError("empty job id")
    plain = f"{prefix}-{job_id}"
    if _PLAIN.match(job_id) and len(plain) <= MAX_NAME:
        return plain
    encoded = base64.b32encode(job_id.encode()).decode().rstrip("=").lower()
    coded = f"{prefix}x-{encoded}"
    if len(coded) <= MAX_NAME:
        return coded
    return f"{prefix}h-{hashlib.sha256(job_id.encode()).hexdigest()[:24]}"


def is_ours(prefix: str, name: str) -> bool:
    """Whether a session name was made by :func:`session_name` with ``prefix``."""
    return name.lower().startswith((f"{prefix}-", f"{prefix}x-", f"{prefix}h-"))


def job_id_from_name(prefix: str, name: str) -> str | None:
    """The job id encoded in ``name``, or ``None`` if it is not ours or not reversible."""
    name = name.lower()
    if name.startswith(f"{prefix}-"):
        job_id = name[len(prefix) + 1 :]
        return job_id if _PLAIN.match(job_id) else None
    if name.startswith(f"{prefix}x-"):
        encoded = name[len(prefix) + 2 :]
        if not _B32.match(encoded):
            return None
        padded = encoded.upper() + "=" * (-len(encoded) % 8)
        try:
            return base64.b32decode(padded).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def replica_name(prefix: str, job_id: str, number: int) -> str:
    """The session name of replica ``number`` (1-based) of ``job_id``."""
    if not job_id:
        raise ValueError("empty job id")
    suffix = f"-{number}"
    encoded = base64.b32encode(job_id.encode()).decode().rstrip("=").lower()
    coded = f"{prefix}x-{encoded}{suffix}"
    if len(coded) <= MAX_NAME:
        return coded
    return f"{prefix}h-{hashlib.sha256(job_id.encode()).hexdigest()[:24]}{suffix}"


def replica_from_name(prefix: str, name: str) -> tuple[str | None, int] | None:
    """``(job id or None if not reversible, replica number)`` of a replica's name,
    or ``None`` when ``name`` is not a replica of this broker's."""
    match = _REPLICA.match(name.lower())
    if match is None:
        return None
    base, number = match.group("base"), int(match.group("number"))
    if base.startswith(f"{prefix}x-"):
        job_id = job_id_from_name(prefix, base)
        return (job_id, number) if job_id is not None else None
    if base.startswith(f"{prefix}h-") and len(base) == len(prefix) + 2 + 24:
        return None, number
    return None
