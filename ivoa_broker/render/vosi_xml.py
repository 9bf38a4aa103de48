"""VOSI 1.1 documents: ``/availability`` and ``/capabilities``.

``capability`` elements are **unqualified** (``form="unqualified"`` in
VOSICapabilities-v1.0.xsd) and every ``interface`` carries an ``xsi:type``
because ``vr:Interface`` is abstract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from ivoa_broker.render.times import format_instant
from ivoa_broker.render.xml_common import XSI_NS, qname, to_bytes, xml_safe

__all__ = [
    "AVAILABILITY_NS",
    "CAPABILITIES_NS",
    "STD_AVAILABILITY",
    "STD_CAPABILITIES",
    "STD_UWS",
    "VODATASERVICE_NS",
    "VORESOURCE_NS",
    "CapabilitySpec",
    "availability_xml",
    "capabilities_xml",
    "standard_capabilities",
]

AVAILABILITY_NS = "http://www.ivoa.net/xml/VOSIAvailability/v1.0"
CAPABILITIES_NS = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
VORESOURCE_NS = "http://www.ivoa.net/xml/VOResource/v1.0"
VODATASERVICE_NS = "http://www.ivoa.net/xml/VODataService/v1.1"

STD_CAPABILITIES = "ivo://ivoa.net/std/VOSI#capabilities"
STD_AVAILABILITY = "ivo://ivoa.net/std/VOSI#availability"
STD_UWS = "ivo://ivoa.net/std/UWS#rest-1.1"
#: The ExecutionBroker draft registers no standardID yet; these provisional ids follow
#: the IVOA pattern (``ivo://ivoa.net/std/<Standard>#<capability>-<version>``) and name
#: each endpoint of the API, so clients can discover them through VOSI.
STD_EB = "ivo://ivoa.net/std/ExecutionBroker"
EB_ENDPOINTS = (
    ("requests", "/requests", "ask every platform for offers (POST an execution request)"),
    ("offersets", "/offersets", "the caller's offer sets, and each set's offers"),
    ("sessions", "/sessions", "accepted offers as execution sessions"),
    ("direct", "/direct", "accept the best offer in one step"),
    ("openapi", "/openapi.yaml", "OpenAPI 3.1 description of every endpoint"),
)

#: prefixes an ``interface_type`` may use; both are declared on the root
_TYPE_PREFIXES = {"vr": VORESOURCE_NS, "vs": VODATASERVICE_NS}


@dataclass(frozen=True)
class CapabilitySpec:
    """One ``capability`` with one ``interface`` and one ``accessURL``."""

    standard_id: str
    access_url: str
    use: Literal["full", "base", "dir"] = "full"
    role: str | None = None
    interface_type: str = "vs:ParamHTTP"
    description: str | None = None

    def __post_init__(self) -> None:
        prefix, _, local = self.interface_type.partition(":")
        if prefix not in _TYPE_PREFIXES or not local:
            raise ValueError(
                f"interface_type must be 'vr:<Type>' or 'vs:<Type>', not {self.interface_type!r}"
            )


def standard_capabilities(base_url: str, jobs_url: str) -> list[CapabilitySpec]:
    """VOSI capabilities and availability (siblings of ``base_url``), UWS 1.1 and the
    ExecutionBroker endpoints."""
    base = base_url.rstrip("/")
    return [
        CapabilitySpec(STD_CAPABILITIES, f"{base}/capabilities", use="full"),
        CapabilitySpec(STD_AVAILABILITY, f"{base}/availability", use="full"),
        CapabilitySpec(STD_UWS, jobs_url, use="base", role="std"),
        *(
            CapabilitySpec(
                f"{STD_EB}#{name}-1.0",
                f"{base}{path}",
                use="full" if name in ("requests", "direct", "openapi") else "base",
                description=description,
            )
            for name, path, description in EB_ENDPOINTS
        ),
    ]


def availability_xml(
    available: bool, notes: Sequence[str], up_since: datetime | None = None
) -> bytes:
    """The ``vosi:availability`` document (children: available, upSince?, note*)."""
    root = etree.Element(qname(AVAILABILITY_NS, "availability"), nsmap={"vosi": AVAILABILITY_NS})
    etree.SubElement(root, qname(AVAILABILITY_NS, "available")).text = (
        "true" if available else "false"
    )
    if up_since is not None:
        etree.SubElement(root, qname(AVAILABILITY_NS, "upSince")).text = format_instant(up_since)
    for note in notes:
        etree.SubElement(root, qname(AVAILABILITY_NS, "note")).text = xml_safe(note)
    return to_bytes(root)


def capabilities_xml(capabilities: Sequence[CapabilitySpec]) -> bytes:
    """The ``vosi:capabilities`` document with unqualified ``capability`` children."""
    nsmap = {"vosi": CAPABILITIES_NS, **_TYPE_PREFIXES, "xsi": XSI_NS}
    root = etree.Element(qname(CAPABILITIES_NS, "capabilities"), nsmap=nsmap)
    for spec in capabilities:
        capability = etree.SubElement(root, "capability")
        capability.set("standardID", xml_safe(spec.standard_id))
        if spec.description is not None:
            etree.SubElement(capability, "description").text = xml_safe(spec.description)
        interface = etree.SubElement(capability, "interface")
        interface.set(qname(XSI_NS, "type"), spec.interface_type)
        if spec.role is not None:
            interface.set("role", xml_safe(spec.role))
        access_url = etree.SubElement(interface, "accessURL")
        access_url.set("use", spec.use)
        access_url.text = xml_safe(spec.access_url)
    return to_bytes(root)
