"""Offer expiry over HTTP: a broker whose offers live one second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from ivoa_broker.protocol import utcnow
from tests.eb_http.conftest import start_with_plugins
from tests.eb_http.docs import JSON, command, offerset, phase_update, problem, update
from tests.server import BrokerProcess

CONFIG = """\
[jobs]
offer_ttl = 1

[adapters.box]
plugin = "ebtest-container"
[adapters.box2]
plugin = "ebtest-container"
"""


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    process: BrokerProcess = start_with_plugins(tmp_path_factory.mktemp("expiry"), CONFIG)
    try:
        with httpx.Client(base_url=process.url, timeout=30) as client:
            yield client
    finally:
        process.stop()


def test_offers_expire_and_an_expired_accept_is_gone(short_lived: httpx.Client) -> None:
    data = offerset(short_lived, command("true"))
    first, second = data["offers"]
    expires = datetime.fromisoformat(first["expires"])
    created = datetime.fromisoformat(data["meta"]["created"])
    assert 0 < (expires - created).total_seconds() <= 1.0
    # wait for a known instant (not polling): the offers' expiry
    time.sleep(max((expires - utcnow()).total_seconds(), 0) + 0.05)
    session = short_lived.get(f"/sessions/{first['meta']['uuid']}", headers=JSON).json()
    assert session["phase"] == "EXPIRED"
    assert "expires" not in session
    assert session["meta"].get("options", []) == []
    gone = problem(update(short_lived, first["meta"]["uuid"], phase_update("ACCEPTED")), 410)
    assert "expired" in gone["detail"]
    problem(update(short_lived, second["meta"]["uuid"], phase_update("REJECTED")), 410)
    assert short_lived.get(f"/jobs/{first['meta']['uuid']}").status_code == 404
    again = short_lived.get(data["meta"]["url"], headers=JSON).json()
    assert [o["phase"] for o in again["offers"]] == ["EXPIRED", "EXPIRED"]
