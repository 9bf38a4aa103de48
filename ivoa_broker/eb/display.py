"""Stored text made safe to show in an ExecutionBroker document.

A job's values were accepted by UWS rules (a RUNID may hold a tab or a newline) or
written by a platform (stderr with ANSI colour codes): the EB models refuse control
characters, so a view that copied them would fail for the whole list it belongs to.
:func:`displayable` strips terminal escape sequences, turns every other character the
models refuse into U+FFFD (a single-line field gets spaces for tabs and newlines) and
cuts to the field's length. Rendering never fails on what was stored.
"""

from __future__ import annotations

import re

__all__ = ["displayable"]

#: ESC [ ... final byte (CSI: colours, cursor moves), ESC ] ... BEL/ST (OSC: titles,
#: links), and two-character ESC sequences
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC
    r"|\x1b[@-Z\\-_]"  # two-character sequences
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
#: what ``eb.model`` refuses in text (its ``_BAD_CHARS``), tab and newline aside
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile("[\t\n]")
REPLACEMENT = "\ufffd"


def displayable(text: str, limit: int, *, single_line: bool = False) -> str:
    """``text`` without escape sequences and refused characters, at most ``limit`` long."""
    clean = _CONTROL.sub(REPLACEMENT, _ESCAPES.sub("", text))
    if single_line:
        clean = _LINE_BREAKS.sub(" ", clean)
    return clean[:limit]
