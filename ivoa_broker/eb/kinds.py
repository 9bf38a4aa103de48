"""ExecutionBroker ``kind`` URIs: the canonical v1.0 forms and every historical alias.

The discriminator of every polymorphic ExecutionBroker object is a URI. It has
changed several times (see :data:`ALIASES` and the tests); clients
in the wild send any of these forms, so :data:`ALIASES` maps each of them onto the
canonical v1.0 URI, and the broker only ever emits the canonical one:

* canonical (2026): ``{BASE}<group>/<name>.yaml`` with
  ``BASE = https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/``
  (also with a ``-1.0`` suffix, as the files were briefly named);
* 2025-11 (``uksrc/Calycopis-broker`` tests):
  ``https://www.purl.org/ivoa.net/EB/schema/v1.0/types/<group>/<name>-1.0``;
* ivoa-std 2025-04:
  ``https://www.purl.org/ivoa.net/EB/schema/types/<plural group>/<name>-1.0`` (± ``.yaml``);
* the LaTeX draft: ``uri:<name>-1.0``;
* the 2024 prototypes: ``urn:<name>-0.1`` / ``urn:<name>``;
* the Java constant typo ``…/kinds/computer/simple-compute-resource.yaml``.

Lookup ignores case, surrounding white space and ``http`` versus ``https``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = [
    "ALIASES",
    "BASE",
    "Kind",
    "OptionKind",
    "UnknownKind",
    "UpdateKind",
    "canonical_kind",
    "normalise_kind_field",
    "unwrap_update",
]

#: Base of the canonical v1.0 kind URIs.
BASE = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"

_EB_V1_TYPES = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/"
_EB_2025_TYPES = "https://www.purl.org/ivoa.net/EB/schema/types/"


class Kind(StrEnum):
    """The canonical kind URIs this broker understands and emits."""

    DOCKER_CONTAINER = BASE + "executable/docker-container.yaml"
    JUPYTER_NOTEBOOK = BASE + "executable/jupyter-notebook.yaml"
    SINGULARITY_CONTAINER = BASE + "executable/singularity-container.yaml"
    SIMPLE_COMPUTE_RESOURCE = BASE + "compute/simple-compute-resource.yaml"
    SIMPLE_VOLUME_MOUNT = BASE + "volume/simple-volume-mount.yaml"
    SIMPLE_STORAGE_RESOURCE = BASE + "storage/simple-storage-resource.yaml"
    SIMPLE_DATA_RESOURCE = BASE + "data/simple-data-resource.yaml"
    S3_DATA_RESOURCE = BASE + "data/S3-data-resource.yaml"
    RUCIO_DATA_RESOURCE = BASE + "data/rucio-data-resource.yaml"
    IVOA_DATA_RESOURCE = BASE + "data/ivoa-data-resource.yaml"
    SKAO_DATA_RESOURCE = BASE + "data/skao-data-resource.yaml"
    SIMPLE_MINMAX_FLOAT_COST = BASE + "costs/simple-minmax-float-cost.yaml"
    SIMPLE_MINMAX_FLOAT_METRIC = BASE + "metrics/simple-minmax-float-metric.yaml"
    SIMPLE_EXECUTION_SESSION = BASE + "session/simple-execution-session.yaml"
    SCHEDULED_EXECUTION_SESSION = BASE + "session/scheduled-execution-session.yaml"
    EXECUTION_OFFERSET = BASE + "offerset/execution-offerset.yaml"

    def __str__(self) -> str:
        return self.value


class UpdateKind(StrEnum):
    """``AbstractUpdate`` kinds (unchanged since the LaTeX draft)."""

    ENUM_VALUE = "uri:enum-value-update"
    STRING_VALUE = "uri:string-value-update"
    INTEGER_VALUE = "uri:integer-value-update"
    INTEGER_DELTA = "uri:integer-delta-update"


class OptionKind(StrEnum):
    """``AbstractOption`` kinds."""

    ENUM_VALUE = "uri:enum-value-option"
    STRING_VALUE = "uri:string-value-option"
    INTEGER_VALUE = "uri:integer-value-option"
    INTEGER_DELTA = "uri:integer-delta-option"


@dataclass(frozen=True)
class _Family:
    kind: Kind
    #: group folders used by the ivoa-std 2025-04 layout ("" = no folder)
    old_groups: tuple[str, ...]
    #: extra historical names (prototype ``urn:`` forms and the like)
    extra: tuple[str, ...] = ()


_FAMILIES: tuple[_Family, ...] = (
    _Family(Kind.DOCKER_CONTAINER, ("executables",), ("urn:single-container-0.1",)),
    _Family(
        Kind.JUPYTER_NOTEBOOK,
        ("executables",),
        ("urn:canfar-notebook-0.1", "urn:binder-notebook-0.1"),
    ),
    _Family(Kind.SINGULARITY_CONTAINER, ("executables",)),
    _Family(
        Kind.SIMPLE_COMPUTE_RESOURCE,
        ("resources/compute",),
        # the Java KIND_DISCRIMINATOR typo in uksrc/Calycopis-broker
        (BASE + "computer/simple-compute-resource.yaml",),
    ),
    _Family(Kind.SIMPLE_VOLUME_MOUNT, ("resources/volume", "volumes")),
    _Family(Kind.SIMPLE_STORAGE_RESOURCE, ("resources/storage",)),
    _Family(Kind.SIMPLE_DATA_RESOURCE, ("resources/data",)),
    _Family(Kind.S3_DATA_RESOURCE, ("resources/data",)),
    _Family(Kind.RUCIO_DATA_RESOURCE, ("resources/data",)),
    _Family(Kind.IVOA_DATA_RESOURCE, ("resources/data",)),
    _Family(Kind.SKAO_DATA_RESOURCE, ("resources/data",)),
    _Family(Kind.SIMPLE_MINMAX_FLOAT_COST, ()),
    _Family(Kind.SIMPLE_MINMAX_FLOAT_METRIC, ()),
    _Family(Kind.SIMPLE_EXECUTION_SESSION, ("sessions",)),
    _Family(Kind.SCHEDULED_EXECUTION_SESSION, ("sessions",)),
    _Family(
        Kind.EXECUTION_OFFERSET,
        ("offersets", ""),
        (_EB_V1_TYPES + "offerset/offerset-response-1.0",),
    ),
)


def _key(value: str) -> str:
    text = value.strip().casefold()
    if text.startswith("http://"):
        text = "https://" + text[len("http://") :]
    return text


def _forms(family: _Family) -> list[str]:
    kind = family.kind
    group, _, leaf = kind.value[len(BASE) :].partition("/")
    name = leaf.removesuffix(".yaml")
    forms = [
        kind.value,
        f"{BASE}{group}/{name}-1.0.yaml",
        f"{BASE}{group}/{name}-1.0",
        f"{BASE}{group}/{name}",
        f"{_EB_V1_TYPES}{group}/{name}-1.0",
        f"{_EB_V1_TYPES}{group}/{name}-1.0.yaml",
        f"uri:{name}-1.0",
        f"uri:{name}",
        f"urn:{name}-0.1",
        f"urn:{name}",
    ]
    for old in family.old_groups:
        prefix = f"{_EB_2025_TYPES}{old}/" if old else _EB_2025_TYPES
        forms += [f"{prefix}{name}-1.0", f"{prefix}{name}-1.0.yaml"]
    forms += family.extra
    return forms


def _build() -> Mapping[str, Kind]:
    table: dict[str, Kind] = {}
    for family in _FAMILIES:
        for form in _forms(family):
            key = _key(form)
            if table.setdefault(key, family.kind) is not family.kind:  # pragma: no cover
                raise AssertionError(f"alias {form!r} claimed twice")
    return MappingProxyType(table)


#: Every accepted spelling (normalised: case-folded, ``https``) -> canonical kind.
ALIASES: Mapping[str, Kind] = _build()


class UnknownKind(ValueError):
    """A ``kind`` value that is not a known URI or alias."""


def canonical_kind(value: str) -> Kind:
    """The canonical :class:`Kind` for any historical spelling; :class:`UnknownKind` if none."""
    try:
        return ALIASES[_key(value)]
    except KeyError:
        raise UnknownKind(f"unknown kind {value.strip()[:200]!r}") from None


def normalise_kind_field(data: Any) -> Any:
    """Rename a legacy ``type`` discriminator to ``kind`` and canonicalise known URIs.

    Works on one raw mapping (JSON/YAML/XML-derived); anything else is returned
    unchanged so that validation reports it. An unknown URI is left as it is:
    the model then rejects it, naming its path. Both ``kind`` and ``type`` given
    is left alone too (validation reports the extra ``type``).
    """
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    if "kind" not in out and "type" in out and isinstance(out["type"], str):
        out["kind"] = out.pop("type")
    kind = out.get("kind")
    if isinstance(kind, str):
        key = _key(kind)
        if key in ALIASES:
            out["kind"] = ALIASES[key].value
        elif key.startswith(("uri:", "urn:")):
            out["kind"] = kind.strip()
    return out


def unwrap_update(data: Any) -> Any:
    """Unwrap the pre-2025-11 ``{"update": {...}}`` (``UpdateRequest``) form."""
    if (
        isinstance(data, Mapping)
        and set(data) == {"update"}
        and isinstance(data["update"], Mapping)
    ):
        return data["update"]
    return data
