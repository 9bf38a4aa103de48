"""UWS 1.1 XML documents (``uws:job``, ``uws:jobs``, ``uws:results``,
``uws:parameters``) and the DALI error VOTable of a job.

Pure functions: a :class:`~ivoa_broker.records.Job` in, UTF-8 bytes out.
Element order, ``xsi:nil`` use and cardinalities follow ``UWS.xsd``
(version 1.1-REC-20161024), which the tests validate against.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from ivoa_broker.records import Job, JobResult, JobSummary, Parameter
from ivoa_broker.render.times import format_instant
from ivoa_broker.render.uws_fast import job_text, jobs_text
from ivoa_broker.render.xml_common import XLINK_NS, XSI_NS, qname, set_nil, to_bytes, xml_safe

__all__ = [
    "JOB_INFO_NS",
    "UWS_NS",
    "UWS_VERSION",
    "error_votable",
    "job_href",
    "job_xml",
    "jobs_xml",
    "parameters_xml",
    "result_href",
    "results_xml",
]

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
UWS_VERSION = "1.1"
#: namespace of this project's ``jobInfo`` children
JOB_INFO_NS = "urn:ivoa-broker"
VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"

_NSMAP = {"uws": UWS_NS, "xlink": XLINK_NS, "xsi": XSI_NS}


def _uws(local: str) -> str:
    return qname(UWS_NS, local)


def _root(local: str, *, versioned: bool) -> etree._Element:
    root = etree.Element(_uws(local), nsmap=_NSMAP)
    if versioned:
        root.set("version", UWS_VERSION)
    return root


def _child(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _uws(local))
    if text is not None:
        element.text = xml_safe(text)
    return element


def _instant_or_nil(parent: etree._Element, local: str, value: datetime | None) -> None:
    element = _child(parent, local)
    if value is None:
        set_nil(element)
    else:
        element.text = format_instant(value)


def _owner(parent: etree._Element, owner: str | None) -> None:
    element = _child(parent, "ownerId", owner)
    if owner is None:
        set_nil(element)


def result_href(result: JobResult, job_url: str) -> str:
    """Where a result is fetched: its own ``href``, else ``{job_url}/results/{id}``."""
    if result.href is not None:
        return result.href
    return f"{job_url}/results/{quote(result.id, safe='')}"


def job_href(job_id: str, jobs_url: str) -> str:
    """The URL of a job in the list at ``jobs_url``: ``{jobs_url}/{id}`` (id URL-quoted)."""
    return f"{jobs_url}/{quote(job_id, safe='')}"


def _fill_parameters(element: etree._Element, parameters: Sequence[Parameter]) -> None:
    for parameter in parameters:
        item = _child(element, "parameter", parameter.value)
        item.set("id", xml_safe(parameter.name))
        if parameter.by_reference:
            item.set("byReference", "true")


def _fill_results(element: etree._Element, results: Sequence[JobResult], job_url: str) -> None:
    for result in results:
        item = _child(element, "result")
        item.set("id", xml_safe(result.id))
        item.set(qname(XLINK_NS, "type"), "simple")
        item.set(qname(XLINK_NS, "href"), xml_safe(result_href(result, job_url)))
        if result.size is not None:
            item.set("size", str(result.size))
        if result.mime_type is not None:
            item.set("mime-type", xml_safe(result.mime_type))


def job_xml(job: Job, job_url: str) -> bytes:
    """The ``uws:job`` document of ``job``, served at ``job_url`` (no trailing slash).

    Written from text templates (:mod:`ivoa_broker.render.uws_fast`): the same
    bytes lxml would write for the tree the schema describes, several times cheaper.
    """
    return job_text(job, job_url)


def jobs_xml(jobs: Sequence[JobSummary], jobs_url: str) -> bytes:
    """The ``uws:jobs`` list; each ``uws:jobref`` links to ``{jobs_url}/{id}``."""
    return jobs_text(jobs, jobs_url)


def results_xml(job: Job, job_url: str) -> bytes:
    """The ``uws:results`` document (valid when empty too)."""
    root = _root("results", versioned=False)
    _fill_results(root, job.results, job_url)
    return to_bytes(root)


def parameters_xml(job: Job) -> bytes:
    """The ``uws:parameters`` document."""
    root = _root("parameters", versioned=False)
    _fill_parameters(root, job.parameters)
    return to_bytes(root)


def error_votable(job: Job) -> bytes:
    """The DALI error document served at ``{job}/error``: a VOTable 1.4 whose
    ``RESOURCE type="results"`` holds ``INFO name="QUERY_STATUS" value="ERROR"``.

    Then ``INFO name="ERROR_TYPE"`` (``value`` ``fatal`` or ``transient``) and,
    if the error has detail text, ``INFO name="DETAIL" value=""`` holding it.
    Raises ``ValueError`` when the job has no error (the service answers 404).
    """
    if job.error is None:
        raise ValueError(f"job {job.job_id!r} has no error")
    votable = etree.Element(qname(VOTABLE_NS, "VOTABLE"), nsmap={None: VOTABLE_NS})
    votable.set("version", "1.4")
    resource = etree.SubElement(votable, qname(VOTABLE_NS, "RESOURCE"))
    resource.set("type", "results")
    status = etree.SubElement(resource, qname(VOTABLE_NS, "INFO"))
    status.set("name", "QUERY_STATUS")
    status.set("value", "ERROR")
    status.text = xml_safe(job.error.message)
    error_type = etree.SubElement(resource, qname(VOTABLE_NS, "INFO"))
    error_type.set("name", "ERROR_TYPE")
    error_type.set("value", job.error.type)
    if job.error.detail is not None:
        detail = etree.SubElement(resource, qname(VOTABLE_NS, "INFO"))
        detail.set("name", "DETAIL")
        detail.set("value", "")
        detail.text = xml_safe(job.error.detail)
    return to_bytes(votable)
