"""Safe XML parsing and the namespaces of UWS and VOSI."""

from __future__ import annotations

import re

from lxml import etree

UWS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
VOSI_AVAIL = "http://www.ivoa.net/xml/VOSIAvailability/v1.0"
VOSI_CAPS = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
NS = {"uws": UWS, "xlink": XLINK, "xsi": XSI, "av": VOSI_AVAIL, "caps": VOSI_CAPS}

PHASES = (
    "PENDING",
    "QUEUED",
    "EXECUTING",
    "COMPLETED",
    "ERROR",
    "UNKNOWN",
    "HELD",
    "SUSPENDED",
    "ABORTED",
    "ARCHIVED",
)
TERMINAL = frozenset({"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"})
ACTIVE = frozenset({"PENDING", "QUEUED", "EXECUTING"})
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False
)


class NotXML(ValueError):
    pass


def parse(body: bytes) -> etree._Element:
    """Parse without entity expansion or network access."""
    try:
        return etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise NotXML(f"not well-formed XML: {exc}") from exc


def q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def uws(local: str) -> str:
    return q(UWS, local)


def is_nil(el: etree._Element) -> bool:
    return el.get(q(XSI, "nil")) in ("true", "1")


def text(el: etree._Element | None) -> str | None:
    """Text of an element; ``None`` when absent or nil."""
    if el is None or is_nil(el):
        return None
    return (el.text or "").strip()


def child(el: etree._Element, local: str) -> etree._Element | None:
    return el.find(uws(local))


def child_text(el: etree._Element, local: str) -> str | None:
    return text(child(el, local))


def local_name(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


def name_of(el: etree._Element) -> str:
    qn = etree.QName(el)
    return f"{{{qn.namespace}}}{qn.localname}" if qn.namespace else qn.localname
