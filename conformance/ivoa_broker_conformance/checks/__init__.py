"""Check modules; importing them registers the checks in this order."""

from __future__ import annotations

from ivoa_broker_conformance.checks import (  # noqa: F401
    eb,
    json_ext,
    pyvo_flow,
    security,
    uws_children,
    uws_filters,
    uws_job,
    uws_list,
    uws_outcome,
    uws_state,
    uws_wait,
    vosi,
)
