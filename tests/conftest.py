"""Shared fixtures: the official IVOA schemas and a running broker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import BrokerProcess

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
    short WAIT cap so blocking tests stay quick."""
    workdir = tmp_path_factory.mktemp("broker")
    process = BrokerProcess(workdir, config="[jobs]\nwait_cap = 5\n").start()
    yield process
    process.stop()


@pytest.fixture
def http(broker: BrokerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=broker.url, timeout=30) as client:
        yield client
