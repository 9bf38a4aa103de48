"""The lxml renderers of ``uws:job`` and ``uws:jobs`` as they were before the text
templates (:mod:`ivoa_broker.render.uws_fast`): the reference the tests compare
the fast output with, byte for byte."""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from ivoa_broker.records import Job, JobSummary
from ivoa_broker.render.times import format_instant
from ivoa_broker.render.uws_xml import (
    JOB_INFO_NS,
    _child,
    _fill_parameters,
    _fill_results,
    _instant_or_nil,
    _owner,
    _root,
    _uws,
    job_href,
)
from ivoa_broker.render.xml_common import XLINK_NS, qname, to_bytes, xml_safe


def lxml_job_xml(job: Job, job_url: str) -> bytes:
    """The ``uws:job`` document of ``job``, served at ``job_url`` (no trailing slash)."""
    root = _root("job", versioned=True)
    _child(root, "jobId", job.job_id)
    if job.run_id is not None:
        _child(root, "runId", job.run_id)
    _owner(root, job.owner)
    _child(root, "phase", job.phase.value)
    _instant_or_nil(root, "quote", job.quote)
    _child(root, "creationTime", format_instant(job.creation_time))
    _instant_or_nil(root, "startTime", job.start_time)
    _instant_or_nil(root, "endTime", job.end_time)
    _child(root, "executionDuration", str(job.execution_duration))
    _instant_or_nil(root, "destruction", job.destruction)
    _fill_parameters(_child(root, "parameters"), job.parameters)
    _fill_results(_child(root, "results"), job.results, job_url)
    if job.error is not None:
        summary = _child(root, "errorSummary")
        summary.set("type", job.error.type)
        # The service answers {job}/error for every errored job, detail or not.
        summary.set("hasDetail", "true")
        _child(summary, "message", job.error.message)
    if job.job_info:
        info = etree.SubElement(root, _uws("jobInfo"), nsmap={"ib": JOB_INFO_NS})
        for name, value in job.job_info.items():
            item = etree.SubElement(info, qname(JOB_INFO_NS, "item"))
            item.set("name", xml_safe(name))
            item.text = xml_safe(value)
    return to_bytes(root)


def lxml_jobs_xml(jobs: Sequence[JobSummary], jobs_url: str) -> bytes:
    """The ``uws:jobs`` list; each ``uws:jobref`` links to ``{jobs_url}/{id}``."""
    root = _root("jobs", versioned=True)
    for job in jobs:
        ref = _child(root, "jobref")
        ref.set("id", xml_safe(job.job_id))
        ref.set(qname(XLINK_NS, "type"), "simple")
        ref.set(qname(XLINK_NS, "href"), xml_safe(job_href(job.job_id, jobs_url)))
        _child(ref, "phase", job.phase.value)
        if job.run_id is not None:
            _child(ref, "runId", job.run_id)
        _owner(ref, job.owner)
        _child(ref, "creationTime", format_instant(job.creation_time))
    return to_bytes(root)


