"""Names of what the adapter makes: ``<name_prefix><broker job id>``.

One name works for a machine (``^[A-Za-z0-9.-]+$``), a Kubernetes app
(``^[a-z][a-z0-9-]+[a-z0-9]$``, a Helm release: at most 53 characters) and a CaaS cluster
(``^[a-z0-9-]+$``), so job ids must be lower-case letters, digits and dashes (the broker's
UUIDs are). The portal shows no metadata of machines, so the name is how orphans are
found again: the job id is the name without the prefix.
"""

from __future__ import annotations

import re

__all__ = ["MAX_JOB_ID", "job_id_of", "job_id_problem", "name_for"]

MAX_JOB_ID = 36
_JOB_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def job_id_problem(job_id: str) -> str | None:
    """Why ``job_id`` cannot be part of an Azimuth name (None if it can)."""
    if not _JOB_ID.match(job_id) or len(job_id) > MAX_JOB_ID:
        return (
            f"the job id must be 1 to {MAX_JOB_ID} lower-case letters, digits and inner dashes "
            "(Azimuth app and cluster names)"
        )
    return None


def name_for(prefix: str, job_id: str) -> str:
    return f"{prefix}{job_id}"


def job_id_of(prefix: str, name: str) -> str | None:
    """The job id in a name this adapter made (None for anything else)."""
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix) :]
    return rest if job_id_problem(rest) is None else None
