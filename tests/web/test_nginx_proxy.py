"""Behind a real nginx that serves the broker under ``/broker/`` and strips the prefix:
every URL the broker emits points through the proxy (Location, results, capabilities,
offer sets, the ``GET /`` redirect), and pyvo runs a job through it.

nginx is Debian's; the test starts its own with its own config, pid file and temp
folders on a free port, and stops it at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.nginx import needs_nginx, running_nginx
from tests.server import BrokerProcess

#: the operator's example, run verbatim (only the upstream port differs)
LOCATION = Path(__file__).resolve().parents[2] / "deploy" / "nginx-location.conf"
UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}href"

pytestmark = needs_nginx


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("nginx-broker")
    broker = BrokerProcess(
        work, config='[server]\nforwarded_allow_ips = "127.0.0.1"\n[jobs]\nwait_cap = 10\n'
    ).start()
    location = LOCATION.read_text().replace("127.0.0.1:8080", f"127.0.0.1:{broker.port}")
    assert str(broker.port) in location
    try:
        with running_nginx(work / "nginx", location, probe="/broker/availability") as url:
            yield f"{url}/broker"
    finally:
        broker.stop()


def test_root_redirect_stays_under_the_prefix(proxied: str) -> None:
    response = httpx.get(f"{proxied}/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{proxied}/capabilities"


def test_job_urls_go_through_the_proxy(proxied: str) -> None:
    created = httpx.post(
        f"{proxied}/jobs",
        data={"cmd": "sh", "args": ["-c", "echo hi > $IVOA_BROKER_OUTPUT_DIR/out.txt"]},
        follow_redirects=False,
    )
    assert created.status_code == 303
    job = created.headers["location"]
    assert job.startswith(f"{proxied}/jobs/")
    run = httpx.post(f"{job}/phase", data={"PHASE": "RUN"}, follow_redirects=False)
    assert run.headers["location"] == job
    doc = etree.fromstring(httpx.get(f"{job}?WAIT=10").content)
    for _ in range(5):
        if doc.findtext(f"{UWS}phase") == "COMPLETED":
            break
        doc = etree.fromstring(httpx.get(f"{job}?WAIT=10").content)
    assert doc.findtext(f"{UWS}phase") == "COMPLETED"
    hrefs = [r.get(XLINK) for r in doc.iter(f"{UWS}result")]
    assert hrefs and all(h.startswith(f"{proxied}/jobs/") for h in hrefs), hrefs
    out = [h for h in hrefs if h.endswith("out.txt")]
    assert httpx.get(out[0]).text == "hi\n"
    listing = etree.fromstring(httpx.get(f"{proxied}/jobs").content)
    refs = [r.get(XLINK) for r in listing.iter(f"{UWS}jobref")]
    assert job in refs


def test_capabilities_point_through_the_proxy(proxied: str) -> None:
    doc = etree.fromstring(httpx.get(f"{proxied}/capabilities").content)
    urls = [el.text for el in doc.iter("accessURL")]
    assert urls and all(u and u.startswith(proxied) for u in urls), urls


def test_offer_set_location_goes_through_the_proxy(proxied: str) -> None:
    request = (
        "executable:\n"
        "  kind: https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/executable/"
        "docker-container.yaml\n"
        "  image: {locations: [docker.io/library/python:3.12]}\n"
    )
    response = httpx.post(
        f"{proxied}/requests",
        content=request,
        headers={"Content-Type": "application/yaml"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(f"{proxied}/offersets/")


def test_pyvo_runs_a_job_through_the_proxy(proxied: str) -> None:
    import requests
    from pyvo.dal.tap import AsyncTAPJob

    session = requests.Session()
    r = session.post(
        f"{proxied}/jobs",
        data={"cmd": "sh", "args": ["-c", "echo 42"]},
        allow_redirects=False,
    )
    job = AsyncTAPJob(r.headers["Location"], session=session)
    job.run().wait(timeout=60)
    job.raise_if_error()
    assert job.phase == "COMPLETED"
    assert all(u.startswith(proxied) for u in job.result_uris)
    job.delete()
