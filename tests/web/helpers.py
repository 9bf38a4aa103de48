"""Small helpers for driving the broker over HTTP in tests."""

from __future__ import annotations

import re
from typing import Any

import httpx
from lxml import etree

from ivoa_broker.testing.broker_http import wait_phase

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def create(http: httpx.Client, data: Any, *, params: Any = None, **kw: Any) -> str:
    """POST /jobs; assert the 303 and return the job URL."""
    response = http.post("/jobs", data=data, params=params, follow_redirects=False, **kw)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:")
    return location


def doc(response: httpx.Response) -> etree._Element:
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


def job_doc(http: httpx.Client, url: str, **params: Any) -> etree._Element:
    return doc(http.get(url, params=params))


def text(root: etree._Element, name: str) -> str | None:
    el = root.find(UWS + name)
    return None if el is None else el.text


def phase(http: httpx.Client, url: str) -> str:
    return http.get(url + "/phase").text


def wait_until(http: httpx.Client, url: str, phases: set[str], limit: float = 30) -> str:
    """Block with WAIT until the job's phase is one of ``phases``."""
    return wait_phase(http, url, phases, limit)


QUICK = {"cmd": "echo", "args": "hello"}
FAILING = {"cmd": "sh", "args": ["-c", "echo broken >&2; exit 3"]}
LONG = {"cmd": "sleep", "args": "60"}
