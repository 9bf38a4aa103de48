"""Schemas (official IVOA XSDs, read from the shared directory, never copied
into the repo) and sample job records for the renderer tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import xmlschema

from ivoa_broker.records import Job

from .samples import SAMPLE_JOBS

REPO = Path(__file__).resolve().parents[2]


def xsd_dir() -> Path:
    """``$IVOA_XSD_DIR``, else ``<repo>/../shared/ivoa-xsd`` (CI clones shared/ beside it)."""
    configured = os.environ.get("IVOA_XSD_DIR")
    return Path(configured) if configured else REPO / ".." / "shared" / "ivoa-xsd"


@pytest.fixture(scope="session")
def uws_schema() -> xmlschema.XMLSchema:
    # xlink comes from xmlschema's built-in fallback
    return xmlschema.XMLSchema(str(xsd_dir() / "UWS.xsd"))


@pytest.fixture(scope="session")
def availability_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(xsd_dir() / "VOSIAvailability-v1.0.xsd"))


@pytest.fixture(scope="session")
def capabilities_schema() -> xmlschema.XMLSchema:
    # lax: stc-v1.30.xsd fails xmlschema's strict build (design note §5.4)
    d = xsd_dir()
    return xmlschema.XMLSchema(
        str(d / "VOSICapabilities-v1.0.xsd"),
        validation="lax",
        locations=[
            ("http://www.w3.org/1999/xlink", str(d / "xlink.xsd")),
            ("http://www.ivoa.net/xml/VOResource/v1.0", str(d / "VOResource-v1.1.xsd")),
            ("http://www.ivoa.net/xml/VODataService/v1.1", str(d / "VODataService-v1.2.xsd")),
            ("http://www.ivoa.net/xml/STC/stc-v1.30.xsd", str(d / "stc-v1.30.xsd")),
        ],
    )


@pytest.fixture(params=sorted(SAMPLE_JOBS), ids=str)
def any_job(request: pytest.FixtureRequest) -> Job:
    """Each sample job in turn: every phase, owner/runId set and unset."""
    return SAMPLE_JOBS[request.param]


@pytest.fixture
def errored_job() -> Job:
    return SAMPLE_JOBS["error"]


@pytest.fixture
def completed_job() -> Job:
    return SAMPLE_JOBS["completed"]


@pytest.fixture
def pending_job() -> Job:
    return SAMPLE_JOBS["pending-minimal"]
