"""Validation against the official IVOA XSDs, when a directory holding them is given.

Recipe from uws-vosi.md §5.4: UWS and availability build strictly (xlink via xmlschema's
built-in fallback); capabilities builds lax with VOResource, VODataService and STC mapped.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import xmlschema
from lxml import etree

Kind = Literal["uws", "availability", "capabilities"]

FILES: dict[Kind, str] = {
    "uws": "UWS.xsd",
    "availability": "VOSIAvailability-v1.0.xsd",
    "capabilities": "VOSICapabilities-v1.0.xsd",
}
_CAPS_LOCATIONS = (
    ("http://www.w3.org/1999/xlink", "xlink.xsd"),
    ("http://www.ivoa.net/xml/VOResource/v1.0", "VOResource-v1.1.xsd"),
    ("http://www.ivoa.net/xml/VODataService/v1.1", "VODataService-v1.2.xsd"),
    ("http://www.ivoa.net/xml/STC/stc-v1.30.xsd", "stc-v1.30.xsd"),
)


@dataclass
class SchemaSet:
    """Loaded schemas; ``why_not`` explains a kind that cannot be validated."""

    directory: Path | None
    schemas: dict[Kind, xmlschema.XMLSchema] = field(default_factory=dict)
    why_not: dict[Kind, str] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path | None) -> SchemaSet:
        found = cls(directory)
        for kind, name in FILES.items():
            if directory is None:
                found.why_not[kind] = "no --schemas directory given"
                continue
            path = directory / name
            if not path.is_file():
                found.why_not[kind] = f"{name} not found in {directory}"
                continue
            try:
                found.schemas[kind] = _build(kind, directory)
            except (xmlschema.XMLSchemaException, OSError) as exc:
                found.why_not[kind] = f"{name} did not build: {exc}"
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
        text = f"XSD validation ENABLED for {done} (schemas from {self.directory})."
        if self.why_not:
            text += " Not validated: " + "; ".join(
                f"{k} ({v})" for k, v in sorted(self.why_not.items())
            )
        return text

    def validate(self, kind: Kind, doc: etree._Element) -> list[str] | None:
        """Errors (empty when valid), or ``None`` when this kind cannot be validated."""
        schema = self.schemas.get(kind)
        if schema is None:
            return None
        errors: list[str] = []
        try:
            for err in schema.iter_errors(doc):
                errors.append(f"{err.reason} (at {err.path})")
                if len(errors) >= 10:
                    break
        except (KeyError, xmlschema.XMLSchemaException) as exc:
            errors.append(f"validator error: {exc!r}")
        return errors


def _build(kind: Kind, directory: Path) -> xmlschema.XMLSchema:
    path = str(directory / FILES[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind != "capabilities":
            return xmlschema.XMLSchema(path)
        locations = [
            (ns, str(directory / name))
            for ns, name in _CAPS_LOCATIONS
            if (directory / name).is_file()
        ]
        return xmlschema.XMLSchema(path, validation="lax", locations=locations)
