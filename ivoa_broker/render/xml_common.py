"""Shared lxml plumbing for the XML renderers: namespaces and serialisation."""

from __future__ import annotations

import re

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

__all__ = ["XLINK_NS", "XSI_NS", "qname", "set_nil", "to_bytes", "xml_safe"]

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XLINK_NS = "http://www.w3.org/1999/xlink"


def qname(namespace: str, local: str) -> str:
    """Clark notation ``{namespace}local`` as lxml wants it."""
    return f"{{{namespace}}}{local}"


def set_nil(element: etree._Element) -> None:
    """Mark ``element`` as ``xsi:nil="true"`` (it must stay empty)."""
    element.set(qname(XSI_NS, "nil"), "true")


def to_bytes(root: etree._Element) -> bytes:
    """UTF-8 bytes with an XML declaration; lxml escapes text and attributes."""
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


# Characters XML 1.0 cannot carry at all (C0 controls but TAB/LF/CR, lone
# surrogates, U+FFFE/U+FFFF); lxml refuses them with ValueError.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` with characters XML 1.0 cannot represent replaced by U+FFFD.

    Platform messages (stderr, ANSI colours) may hold such characters; one of
    them must not turn a job document into a server error.
    """
    return _NOT_XML.sub("\ufffd", text)
