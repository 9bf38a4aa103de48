"""Reading UWS parameters (``web/params.py``): the query string's pairs."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from ivoa_broker.web.params import query_pairs


def _request(query: bytes | None) -> Request:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "headers": []}
    if query is not None:
        scope["query_string"] = query
    return Request(scope)


@pytest.mark.parametrize(
    "query",
    [
        b"WAIT=30",
        b"wait=30&PHASE=EXECUTING",
        b"phase=COMPLETED&Phase=ERROR&LAST=10",
        b"a=&b",
        b"x=%C3%A9t%C3%A9&x=2",
        b"&&",
        b"=v",
    ],
)
def test_the_pairs_are_the_query_parameters_with_lower_case_names(query: bytes) -> None:
    request = _request(query)
    expected = [(k.lower(), v) for k, v in request.query_params.multi_items()]
    assert query_pairs(_request(query)) == expected


@pytest.mark.parametrize("query", [b"", None])
def test_no_query_string_no_pairs_and_no_parsing(query: bytes | None) -> None:
    request = _request(query)
    assert query_pairs(request) == []
    assert not hasattr(request, "_query_params")  # Starlette's parsed QueryParams
    first = query_pairs(request)
    first.append(("x", "y"))  # a caller extends its own list, never a shared one
    assert query_pairs(request) == []
