"""Check modules; importing them registers the checks in this order."""

from __future__ import annotations

from ivoa_broker_conformance.checks import (  # noqa: F401
    uws_list,
    uws_job,
    uws_children,
    uws_state,
    uws_outcome,
    uws_wait,
    uws_filters,
    security,
    vosi,
    pyvo_flow,
    json_ext,
    eb,
)
