"""The UWS input parsers raise BadRequest and nothing else, whatever the text."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivoa_broker.errors import BadRequest
from ivoa_broker.protocol import Phase
from ivoa_broker.web.inputs import instant, phase, whole_number


@pytest.mark.parametrize(
    ("text", "expected"), [("3600", 3600), (" 60 ", 60), ("10.0", 10), ("1e3", 1000), ("-1", -1)]
)
def test_whole_numbers(text: str, expected: int) -> None:
    assert whole_number(text, "WAIT") == expected


@pytest.mark.parametrize(
    "text",
    [
        "inf",
        "-inf",
        "nan",
        "Infinity",
        "1e400",
        "9" * 400,
        "1" * 5000,
        "²",
        "5.5",
        "",
        "2147483648",
        "x",
    ],
)
def test_whole_numbers_refused(text: str) -> None:
    with pytest.raises(BadRequest, match="WAIT must be a whole number"):
        whole_number(text, "WAIT")


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2001-02-30T00:00:00Z",
        "soon",
        "T" * 500,
    ],
)
def test_instants_refused(text: str) -> None:
    with pytest.raises(BadRequest, match="DESTRUCTION"):
        instant(text, "DESTRUCTION")


def test_instant_edges_that_exist() -> None:
    assert instant("0001-01-01T01:00:00+01:00", "X") == datetime(1, 1, 1, tzinfo=UTC)
    assert instant("9999-12-31T23:59:59Z", "X").year == 9999


def test_phase() -> None:
    assert phase(" executing ") is Phase.EXECUTING
    with pytest.raises(BadRequest, match="not a UWS phase"):
        phase("\x00")


@given(st.text(max_size=60))
def test_any_text_is_a_number_or_bad_request(text: str) -> None:
    with contextlib.suppress(BadRequest):
        whole_number(text, "N")


@given(st.text(max_size=60))
def test_any_text_is_an_instant_or_bad_request(text: str) -> None:
    with contextlib.suppress(BadRequest):
        instant(text, "I")
