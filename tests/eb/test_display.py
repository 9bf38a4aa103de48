"""Stored text is cleaned for EB documents, never refused."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ivoa_broker.eb.display import displayable
from ivoa_broker.eb.model import MessageItem, Meta


def test_ansi_and_controls() -> None:
    text = "\x1b[31mboom\x1b[0m \x01x\x1b]0;title\x07 done\x00"
    assert displayable(text, 100) == "boom \ufffdx done\ufffd"


def test_single_line() -> None:
    assert displayable("a\tb\nc", 10, single_line=True) == "a b c"
    assert displayable("a\tb\nc", 10) == "a\tb\nc"


def test_limit() -> None:
    assert displayable("x" * 10, 4) == "xxxx"


@given(st.text(max_size=300))
def test_anything_fits_the_models(text: str) -> None:
    MessageItem(message=displayable(text, 4096))
    name = displayable(text, 256, single_line=True)
    Meta(name=name or None)
