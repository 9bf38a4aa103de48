"""VOSI through real HTTP, and with pyvo's parsers (checklist 62-71)."""

from __future__ import annotations

import io
import warnings

import httpx
from lxml import etree

from tests.server import BrokerProcess
from tests.web.helpers import doc

VOSI_AV = "{http://www.ivoa.net/xml/VOSIAvailability/v1.0}"
VOSI_CAP = "{http://www.ivoa.net/xml/VOSICapabilities/v1.0}"


def test_63_65_availability(http: httpx.Client) -> None:
    from pyvo.io.vosi import parse_availability

    response = http.get("/availability")
    root = doc(response)
    assert root.tag == VOSI_AV + "availability"
    assert root[0].tag == VOSI_AV + "available"
    assert root[0].text == "true"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = parse_availability(io.BytesIO(response.content))
    assert parsed.available is True
    assert any("local" in note for note in parsed.notes)


def test_66_to_69_capabilities(http: httpx.Client, broker: BrokerProcess) -> None:
    from pyvo.io.vosi import parse_capabilities

    response = http.get("/capabilities")
    root = doc(response)
    assert root.tag == VOSI_CAP + "capabilities"
    assert all(child.tag == "capability" for child in root)
    urls = {}
    for cap in root:
        interface = cap.find("interface")
        assert interface.get("{http://www.w3.org/2001/XMLSchema-instance}type")
        access = interface.find("accessURL")
        urls[cap.get("standardID")] = (access.text, access.get("use"))
    assert urls["ivo://ivoa.net/std/VOSI#capabilities"] == (f"{broker.url}/capabilities", "full")
    assert urls["ivo://ivoa.net/std/VOSI#availability"] == (f"{broker.url}/availability", "full")
    assert urls["ivo://ivoa.net/std/UWS#rest-1.1"] == (f"{broker.url}/jobs", "base")
    eb = "ivo://ivoa.net/std/ExecutionBroker#"
    assert urls[eb + "requests-1.0"] == (f"{broker.url}/requests", "full")
    assert urls[eb + "sessions-1.0"] == (f"{broker.url}/sessions", "base")
    assert urls[eb + "offersets-1.0"] == (f"{broker.url}/offersets", "base")
    post_only = {urls[eb + "requests-1.0"][0], urls[eb + "direct-1.0"][0]}
    for url, _ in urls.values():
        if url in post_only:
            assert "POST" in http.get(url).headers["allow"]
        else:
            assert http.get(url).status_code == 200
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = parse_capabilities(io.BytesIO(response.content))
    assert {c.standardid for c in parsed} == set(urls)


def test_69_pyvo_service_capabilities(broker: BrokerProcess) -> None:
    import pyvo

    service = pyvo.dal.TAPService(broker.url)
    ids = {c.standardid for c in service.capabilities}
    assert "ivo://ivoa.net/std/UWS#rest-1.1" in ids


def test_70_71_methods_and_last_modified(http: httpx.Client) -> None:
    for path in ("/capabilities", "/availability"):
        for method in ("POST", "PUT", "DELETE"):
            assert http.request(method, path).status_code == 405
    response = http.get("/capabilities")
    assert "last-modified" in response.headers
    assert http.head("/capabilities").status_code == 200


def test_64_availability_false_when_no_platform_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a valid configuration whose only platform is down (nothing listens on port 1)
    config = (
        '[adapters.ghost]\nplugin = "ssh"\n'
        '[adapters.ghost.config]\nhost = "127.0.0.1"\nport = 1\nconnect_timeout = 1\n'
        "accept_unknown_host_keys = true\n"
    )
    process = BrokerProcess(tmp_path, config=config).start()
    try:
        body = httpx.get(f"{process.url}/availability").content
        root = etree.fromstring(body)
        assert root[0].text == "false"
        notes = " ".join(n.text for n in root.iter(VOSI_AV + "note"))
        assert "ghost" in notes
        ready = httpx.get(f"{process.url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert httpx.get(f"{process.url}/healthz").status_code == 200
    finally:
        process.stop()


async def test_64_availability_false_when_store_is_down(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ivoa_broker.auth import Authenticator
    from ivoa_broker.config import Settings
    from ivoa_broker.dispatch import Dispatcher
    from ivoa_broker.jobs import JobService
    from ivoa_broker.protocol import utcnow
    from ivoa_broker.store import JobStore
    from ivoa_broker.web.context import Broker
    from ivoa_broker.web.vosi import check_availability
    from tests.fakes import FakeAdapter

    settings = Settings()
    store = await JobStore.open(tmp_path / "jobs.db")
    jobs = JobService(store, settings.jobs)
    dispatcher = Dispatcher(jobs, store, {"fake": FakeAdapter()}, settings.jobs)
    broker = Broker(settings, store, jobs, dispatcher, Authenticator({}, True), {}, [], utcnow())
    assert (await check_availability(broker))[0] is True
    await store.close()
    available, notes = await check_availability(broker)
    assert available is False
    assert any("job store" in n for n in notes)
