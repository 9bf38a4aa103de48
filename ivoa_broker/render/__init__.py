"""Renderers: pure functions turning job records into UWS/VOSI XML and JSON."""

from __future__ import annotations

from ivoa_broker.render.json_docs import (
    availability_json,
    capabilities_json,
    error_json,
    job_json,
    jobs_json,
    parameters_json,
    results_json,
)
from ivoa_broker.render.times import format_instant
from ivoa_broker.render.uws_xml import (
    error_votable,
    job_href,
    job_xml,
    jobs_xml,
    parameters_xml,
    result_href,
    results_xml,
)
from ivoa_broker.render.vosi_xml import (
    CapabilitySpec,
    availability_xml,
    capabilities_xml,
    standard_capabilities,
)

__all__ = [
    "CapabilitySpec",
    "availability_json",
    "availability_xml",
    "capabilities_json",
    "capabilities_xml",
    "error_json",
    "error_votable",
    "format_instant",
    "job_href",
    "job_json",
    "job_xml",
    "jobs_json",
    "jobs_xml",
    "parameters_json",
    "parameters_xml",
    "result_href",
    "results_json",
    "results_xml",
    "standard_capabilities",
]
