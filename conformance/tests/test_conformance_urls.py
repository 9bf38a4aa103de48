"""URL rules: urljoin semantics, trailing slashes kept, never a double slash."""

from __future__ import annotations

import pytest
from ivoa_broker_conformance.auth import basic, cookie, header
from ivoa_broker_conformance.config import Config
from ivoa_broker_conformance.urls import child, parent, same


@pytest.mark.parametrize(
    ("parent_url", "expected"),
    [
        ("http://h/uws/jobs/7", "http://h/uws/jobs/7/phase"),
        ("http://h/uws/jobs/7/", "http://h/uws/jobs/7/phase"),
        ("http://h/uws/jobs/7/?x=1", "http://h/uws/jobs/7/phase"),
    ],
)
def test_child_never_doubles_a_slash(parent_url: str, expected: str) -> None:
    assert child(parent_url, "phase") == expected
    assert child(parent_url, "/phase") == expected


def test_parent_and_same() -> None:
    assert parent("http://h/tap/async/abc") == "http://h/tap/async"
    assert parent("http://h/uws/jobs/abc/") == "http://h/uws/jobs"
    assert same("http://h:80/jobs/", "http://h/jobs")
    assert not same("http://h/jobs", "http://h/other")


def test_vosi_urls_keep_the_base_path() -> None:
    assert Config("http://h/tap").vosi("capabilities") == "http://h/tap/capabilities"
    assert Config("http://h/tap/").vosi("capabilities") == "http://h/tap/capabilities"


def test_credentials_never_show_their_secret() -> None:
    b = basic("alice:s3cret")
    assert b.headers() == {"Authorization": "Basic YWxpY2U6czNjcmV0"}
    assert "s3cret" not in repr(b) and "s3cret" not in repr(Config("http://h", auth=b))
    assert header("X-Token: abc").headers() == {"X-Token": "abc"}
    assert cookie("session=abc").headers() == {"Cookie": "session=abc"}
    with pytest.raises(ValueError, match="USER:PASSWORD"):
        basic("nocolon")
