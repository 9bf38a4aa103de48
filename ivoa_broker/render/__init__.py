"""Renderers: pure functions turning job records into UWS/VOSI XML and JSON."""

from __future__ import annotations

from ivoa_broker.render.times import format_instant
from ivoa_broker.render.uws_xml import (
    error_votable,
    job_xml,
    jobs_xml,
    parameters_xml,
    result_href,
    results_xml,
)

__all__ = [
    "error_votable",
    "format_instant",
    "job_xml",
    "jobs_xml",
    "parameters_xml",
    "result_href",
    "results_xml",
]
