"""Container names and labels: how a broker job is found again on the engine."""

from __future__ import annotations

import re

__all__ = ["INSTANCE_LABEL", "JOB_LABEL", "USER_LABEL_PREFIX", "container_name", "instance_labels"]

JOB_LABEL = "org.ivoa.broker.job"
INSTANCE_LABEL = "org.ivoa.broker.instance"
USER_LABEL_PREFIX = "org.ivoa.broker.label."
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def container_name(instance: str, job_id: str) -> str:
    """One name per (instance, job): a second submit of the same job finds the first."""
    return _UNSAFE.sub("-", f"ivb-{instance}-{job_id}")


def instance_labels(instance: str) -> dict[str, str]:
    return {INSTANCE_LABEL: instance}
