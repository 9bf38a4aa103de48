"""Shared fixtures: the official IVOA schemas and a running broker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings

from tests.server import BrokerProcess, local_platform
from tests.stores import (  # noqa: F401 (fixtures)
    both_stores,
    fresh_store_url,
    postgres_schemas,
    postgres_server,
    store,
    store_url,
)

# Timing is not what property tests check: no per-example deadline (CI machines are shared).
settings.register_profile("broker", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("broker")

REPO = Path(__file__).resolve().parent.parent
XSD_DIR = Path(os.environ.get("IVOA_XSD_DIR", REPO.parent / "shared" / "ivoa-xsd"))


@pytest.fixture(scope="session")
def xsd_dir() -> Path:
    if not (XSD_DIR / "UWS.xsd").is_file():
        pytest.fail(f"official IVOA schemas not found in {XSD_DIR}; set IVOA_XSD_DIR")
    return XSD_DIR


@pytest.fixture(scope="session")
def uws_xsd(xsd_dir: Path):  # type: ignore[no-untyped-def]
    import xmlschema

    return xmlschema.XMLSchema(str(xsd_dir / "UWS.xsd"))


@pytest.fixture(scope="session")
def availability_xsd(xsd_dir: Path):  # type: ignore[no-untyped-def]
    import xmlschema

    return xmlschema.XMLSchema(str(xsd_dir / "VOSIAvailability-v1.0.xsd"))


@pytest.fixture(scope="session")
def capabilities_xsd(xsd_dir: Path):  # type: ignore[no-untyped-def]
    import warnings

    import xmlschema

    d = xsd_dir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
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


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for the session: default settings (local adapter, anonymous),
    short WAIT cap so blocking tests stay quick. Its sandboxed jobs may read this run's
    temporary folder (tests gate jobs on files they create there), nothing else of it."""
    workdir = tmp_path_factory.mktemp("broker")
    config = (
        "[jobs]\nwait_cap = 5\n"
        + local_platform(sandbox_paths=[tmp_path_factory.getbasetemp()])
    )
    process = BrokerProcess(workdir, config=config).start()
    yield process
    process.stop()


UWS_NS = "{http://www.ivoa.net/xml/UWS/v1.0}"
VOTABLE_XSD = Path(__import__("astropy").__file__).parent / "io/votable/data/VOTable.v1.4.xsd"


@pytest.fixture(scope="session")
def validate_xml(uws_xsd, availability_xsd, capabilities_xsd):  # type: ignore[no-untyped-def]
    """Validate any XML document the broker emits against its official schema."""
    import xmlschema
    from lxml import etree

    votable = xmlschema.XMLSchema(str(VOTABLE_XSD))
    by_root = {
        UWS_NS + "job": uws_xsd,
        UWS_NS + "jobs": uws_xsd,
        UWS_NS + "results": uws_xsd,
        UWS_NS + "parameters": uws_xsd,
        "{http://www.ivoa.net/xml/VOSIAvailability/v1.0}availability": availability_xsd,
        "{http://www.ivoa.net/xml/VOSICapabilities/v1.0}capabilities": capabilities_xsd,
        "{http://www.ivoa.net/xml/VOTable/v1.3}VOTABLE": votable,
    }

    def check(body: bytes) -> None:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        schema = by_root.get(root.tag)
        assert schema is not None, f"no schema known for root element {root.tag}"
        errors = list(schema.iter_errors(body.decode()))
        assert not errors, f"{root.tag} is not schema-valid: {errors[0]}"

    return check


@pytest.fixture
def http(broker: BrokerProcess, validate_xml) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    """A client of the session broker; every XML response is schema-validated."""

    def on_response(response: httpx.Response) -> None:
        response.read()
        media = response.headers.get("content-type", "").split(";")[0]
        if response.status_code == 200 and media.endswith("xml") and response.content:
            validate_xml(response.content)

    with httpx.Client(
        base_url=broker.url, timeout=30, event_hooks={"response": [on_response]}
    ) as client:
        yield client


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Long parameter values (400 nines, 5000 digits) get short test ids."""
    if isinstance(val, str) and len(val) > 40:
        return f"{val[:12]!r}..{len(val)}chars"
    return None
