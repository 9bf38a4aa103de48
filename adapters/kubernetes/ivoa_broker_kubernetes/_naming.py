"""Object names, labels and native ids.

A task's objects are named ``ivoa-<job id, made DNS-safe>-<hash>`` (at most 52
characters, so the pod name the Job controller derives stays within 63) and
labelled with the instance and the broker job id, so one label selector lists
every task of an instance and ``list_native`` finds orphans. The native id is
``<namespace>/<name>``.
"""

from __future__ import annotations

import hashlib
import re

LABEL_INSTANCE = "ivoa-broker.org/instance"
LABEL_JOB = "ivoa-broker.org/job-id"
LABEL_KIND = "ivoa-broker.org/kind"
ANNOTATION_JOB = "ivoa-broker.org/job-id"
MAX_NAME = 52


def object_name(job_id: str) -> str:
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    safe = re.sub(r"[^a-z0-9-]+", "-", job_id.lower()).strip("-")
    room = MAX_NAME - len("ivoa-") - len(digest) - 1
    safe = safe[:room].strip("-")
    return f"ivoa-{safe}-{digest}" if safe else f"ivoa-{digest}"


def label_value(text: str) -> str:
    """A valid label value standing for ``text`` (<= 63 chars, alphanumeric ends)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    if len(safe) > 63:
        safe = safe[:54] + "." + hashlib.sha256(text.encode()).hexdigest()[:8]
    return safe.strip("_.-") or "x"


def native_id(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def split_native(native: str) -> tuple[str, str]:
    namespace, _, name = native.partition("/")
    return namespace, name


def instance_selector(instance: str) -> str:
    return f"{LABEL_INSTANCE}={label_value(instance)}"
