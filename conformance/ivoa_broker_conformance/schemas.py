"""Validation against the official IVOA XSDs, when a directory holding them is given.

Every ``*.xsd`` under ``--schemas`` (recursively) is read and indexed by its target namespace,
so whatever a document refers to (VOResource, VODataService, TAPRegExt, STC, xlink, …) is
resolved locally when present. UWS and availability build strictly; capabilities builds lax.
An element whose ``xsi:type`` names a namespace with no schema in the directory (a TAPRegExt
capability when TAPRegExt.xsd is absent) is reported *not validated*, never invalid.
"""

from __future__ import annotations

import warnings
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import xmlschema
from lxml import etree

Kind = Literal["uws", "availability", "capabilities"]

NAMESPACES: dict[Kind, str] = {
    "uws": "http://www.ivoa.net/xml/UWS/v1.0",
    "availability": "http://www.ivoa.net/xml/VOSIAvailability/v1.0",
    "capabilities": "http://www.ivoa.net/xml/VOSICapabilities/v1.0",
}
#: preferred file names (the IVOA document repository's); others are found by namespace
FILES: dict[Kind, str] = {
    "uws": "UWS.xsd",
    "availability": "VOSIAvailability-v1.0.xsd",
    "capabilities": "VOSICapabilities-v1.0.xsd",
}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
MAX_ERRORS = 10


@dataclass
class Validation:
    """Errors (empty when valid) and the parts that could not be validated."""

    errors: list[str] = field(default_factory=list)
    not_validated: list[str] = field(default_factory=list)
    first_element: etree._Element | None = None


def index(directory: Path) -> dict[str, Path]:
    """targetNamespace -> XSD file, for every schema under ``directory``. Where several files
    share a namespace (VOResource-v1.0 and -v1.1), the last by name wins (the newest)."""
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob("*.xsd")):
        try:
            root = etree.parse(str(path), etree.XMLParser(no_network=True)).getroot()
        except (etree.XMLSyntaxError, OSError):
            continue
        ns = root.get("targetNamespace")
        if ns:
            found[ns] = path
    return found


@dataclass
class SchemaSet:
    """Loaded schemas; ``why_not`` explains a kind that cannot be validated."""

    directory: Path | None
    schemas: dict[Kind, xmlschema.XMLSchema] = field(default_factory=dict)
    why_not: dict[Kind, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path | None) -> SchemaSet:
        found = cls(directory)
        if directory is None or not directory.is_dir():
            reason = "no --schemas directory given" if directory is None else f"{directory} missing"
            found.why_not = dict.fromkeys(NAMESPACES, reason)
            return found
        found.files = index(directory)
        for kind, ns in NAMESPACES.items():
            preferred = directory / FILES[kind]
            path = preferred if preferred.is_file() else found.files.get(ns)
            if path is None:
                found.why_not[kind] = f"no schema for {ns} under {directory}"
                continue
            try:
                found.schemas[kind] = _build(kind, path, found.files)
            except (xmlschema.XMLSchemaException, OSError) as exc:
                found.why_not[kind] = f"{path.name} did not build: {exc}"
        return found

    @property
    def enabled(self) -> bool:
        return bool(self.schemas)

    def statement(self) -> str:
        """The plain sentence the reports print about schema validation."""
        if not self.schemas:
            reason = "; ".join(sorted(set(self.why_not.values()))) or "no schemas"
            return f"XSD validation was SKIPPED ({reason}); structure was checked by hand only."
        done = ", ".join(sorted(self.schemas))
        text = (
            f"XSD validation ENABLED for {done} (schemas from {self.directory}, "
            f"{len(self.files)} namespaces)."
        )
        if self.why_not:
            text += " Not validated: " + "; ".join(
                f"{k} ({v})" for k, v in sorted(self.why_not.items())
            )
        return text

    def validate(self, kind: Kind, doc: etree._Element) -> Validation | None:
        """The validation of ``doc``, or ``None`` when this kind cannot be validated."""
        schema = self.schemas.get(kind)
        if schema is None:
            return None
        result = Validation()
        loaded = set(schema.maps.namespaces)
        # validate a copy without the elements whose xsi:type cannot be resolved (they would
        # stop the validator); errors in the copy are mapped back to the original elements
        copy = deepcopy(doc)
        pairs = list(zip(copy.iter(), doc.iter(), strict=True))
        back = {id(c): o for c, o in pairs}
        for c, o in pairs:
            if not isinstance(o.tag, str) or o.get(XSI_TYPE) is None:
                continue
            value = o.get(XSI_TYPE) or ""
            prefix = value.rpartition(":")[0]
            ns = (o.nsmap or {}).get(prefix or None)
            if ns is None:
                continue
            if ns in loaded:
                if f"{{{ns}}}{value.rpartition(':')[2]}" not in schema.maps.types:
                    result.errors.append(
                        f"xsi:type {value} is not a type of {ns} (at {o.getroottree().getpath(o)})"
                    )
                    if result.first_element is None:
                        result.first_element = o
                    up = c.getparent()
                    if up is not None:
                        up.remove(c)
                continue
            result.not_validated.append(
                f"<{etree.QName(o).localname}> of xsi:type {value} ({ns}): no schema for that "
                "namespace under --schemas"
            )
            up = c.getparent()
            if up is not None:
                up.remove(c)
        try:
            for err in schema.iter_errors(copy):
                elem = getattr(err, "elem", None)
                original = back.get(id(elem)) if elem is not None else None
                if result.first_element is None and original is not None:
                    result.first_element = original
                result.errors.append(f"{err.reason} (at {err.path})")
                if len(result.errors) >= MAX_ERRORS:
                    break
        except (KeyError, xmlschema.XMLSchemaException) as exc:
            result.errors.append(f"validator error: {exc!r}")
        return result


def _build(kind: Kind, path: Path, files: dict[str, Path]) -> xmlschema.XMLSchema:
    """UWS and availability strictly (they import xlink at most); capabilities lax, with every
    namespace found under --schemas offered for the extension types a document may use."""
    own = NAMESPACES[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind != "capabilities":
            return xmlschema.XMLSchema(str(path))
        locations = [(ns, str(p)) for ns, p in sorted(files.items()) if ns != own]
        return xmlschema.XMLSchema(str(path), validation="lax", locations=locations)
