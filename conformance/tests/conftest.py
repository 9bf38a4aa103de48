"""Session-scoped loopback server hosting the mini UWS, the mini broker and their variants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conformance_support import LoopbackServer, fixture_app, free_port, run
from ivoa_broker_conformance.runner import Report


@pytest.fixture(scope="session")
def fixture_base() -> Iterator[str]:
    """Base URL of the fixture server; append '/<variant>' or '/eb/<variant>'."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with LoopbackServer(fixture_app(base), port):
        yield base


@pytest.fixture(scope="session")
def reference_report(fixture_base: str) -> Report:
    """The whole suite once against the reference variant."""
    return run(fixture_base, "ok")
