"""Read and write ExecutionBroker documents as JSON, YAML or XML.

The format is chosen by media type. As the ExecutionBroker text says, YAML is
the default: for a request body without ``Content-Type`` and for a response
when ``Accept`` is missing, or when YAML ties with another format.

Parsing is bounded and safe: bodies above ``max_bytes`` are refused (413);
JSON refuses duplicate keys and NaN/Infinity; YAML is read with a safe loader
that refuses aliases (no "billion laughs"), duplicate keys and YAML 1.1
booleans such as ``yes``/``on`` (only ``true``/``false`` are booleans); XML
is parsed by lxml with ``resolve_entities=False``, ``no_network=True``, no DTD
loading, and any DOCTYPE is refused. Nesting depth and node counts are bounded
for every format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml
from lxml import etree
from pydantic import BaseModel, ValidationError

from ivoa_broker.accept import Offered, choose
from ivoa_broker.eb import xmlbind
from ivoa_broker.eb.errors import DocumentError, from_validation_error
from ivoa_broker.eb.model import (
    AnyUpdate,
    ExecutionRequestDocument,
    ExecutionSession,
    OfferSetList,
    OfferSetResponse,
    SessionList,
    Update,
    update_adapter,
)

__all__ = [
    "CONTENT_TYPES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MEDIA_TYPES",
    "OFFERSET",
    "OFFERSETS",
    "REQUEST",
    "SESSION",
    "SESSIONS",
    "UPDATE",
    "DocType",
    "Format",
    "dump",
    "load",
    "load_offerset",
    "load_request",
    "load_session",
    "load_update",
    "parse_data",
    "render",
    "request_format",
    "response_format",
    "to_data",
]

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 20_000


class Format(StrEnum):
    JSON = "json"
    YAML = "yaml"
    XML = "xml"


#: Media types understood on input and output (parameters such as charset ignored).
MEDIA_TYPES: dict[str, Format] = {
    "application/json": Format.JSON,
    "application/yaml": Format.YAML,
    "application/x-yaml": Format.YAML,
    "text/yaml": Format.YAML,
    "text/x-yaml": Format.YAML,
    "application/xml": Format.XML,
    "text/xml": Format.XML,
}

#: The media type written for each format.
CONTENT_TYPES: dict[Format, str] = {
    Format.JSON: "application/json",
    Format.YAML: "application/yaml",
    Format.XML: "application/xml",
}

#: Preference among equal q-values: YAML first (the ExecutionBroker default).
_PREFERENCE = (Format.YAML, Format.JSON, Format.XML)


# ------------------------------------------------------------------ negotiation


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def request_format(content_type: str | None) -> Format:
    """The format of a request body; YAML when there is no ``Content-Type``; 415 if unknown."""
    if content_type is None or not content_type.strip():
        return Format.YAML
    media = _media(content_type)
    if media in MEDIA_TYPES:
        return MEDIA_TYPES[media]
    if media.endswith("+json"):
        return Format.JSON
    if media.endswith("+xml"):
        return Format.XML
    raise DocumentError(
        415,
        "Unsupported media type",
        f"cannot read {media[:100]!r}; send JSON, YAML or XML",
        None,
    )


#: what an ExecutionBroker answer may be, in order of preference (YAML first)
OFFERED: tuple[Offered, ...] = tuple(
    Offered((CONTENT_TYPES[fmt], *(m for m, f in MEDIA_TYPES.items() if f is fmt)))
    for fmt in _PREFERENCE
)
_BY_MEDIA = {offered.media: fmt for offered, fmt in zip(OFFERED, _PREFERENCE, strict=True)}


def response_format(accept: str | None) -> Format:
    """The format to answer in, from ``Accept`` (:func:`ivoa_broker.accept.choose`); 406
    if none fits.

    No ``Accept`` (or an empty one) gives YAML; among equal q-values a type named
    explicitly beats a wildcard, then YAML wins, then JSON, then XML.
    """
    chosen = choose(accept, OFFERED)
    if chosen is None:
        raise DocumentError(
            406,
            "Not acceptable",
            "this service answers in application/yaml, application/json or application/xml",
            None,
        )
    return _BY_MEDIA[chosen.media]


# ---------------------------------------------------------------------- parsing


def _bad(detail: str, path: str | None = None, status: int = 400) -> DocumentError:
    return DocumentError(status, "Malformed document", detail, path)


def _check_shape(data: Any) -> None:
    nodes = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise _bad(f"document has more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise _bad(f"document nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _bad(f"duplicate key {key[:64]!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _bad(f"{name} is not a JSON number")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, DocumentError):
            raise
        raise _bad(f"not valid JSON: {str(exc)[:200]}") from None


_LoaderBase: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
_Dumper: Any = yaml.CSafeDumper if yaml.__with_libyaml__ else yaml.SafeDumper


class _Loader(_LoaderBase):  # type: ignore[misc]
    """Safe loader (libyaml when present): no duplicate keys, only true/false booleans.

    Aliases are refused on the event stream before anything is constructed.
    """

    yaml_implicit_resolvers = {
        key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        keys: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise _bad(f"mapping key {key!r} is not a string (line {line})")
            if key in keys:
                raise _bad(f"duplicate key {key[:64]!r} (line {line})")
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _parse_yaml(body: bytes) -> Any:
    try:
        for event in yaml.parse(body, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise _bad(f"YAML aliases are not accepted (line {line})")
        return yaml.load(body, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise _bad(f"not valid YAML: {str(exc)[:300]}") from None
    except RecursionError:
        raise _bad("YAML nested too deeply") from None


def _xml_parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


_DOCTYPE = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _has_doctype(body: bytes) -> bool:
    """A DOCTYPE/ENTITY declaration anywhere, checked before libxml2 sees the bytes."""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
        try:
            text = body.decode("utf-16" if body[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-32")
        except UnicodeDecodeError:
            return True
        return _DOCTYPE.search(text.encode("utf-8")) is not None
    return _DOCTYPE.search(body) is not None


def _parse_xml(body: bytes) -> Any:
    if _has_doctype(body):
        raise _bad("XML documents with a DOCTYPE are not accepted")
    try:
        root = etree.fromstring(body, _xml_parser())
    except etree.XMLSyntaxError as exc:
        raise _bad(f"not well-formed XML: {str(exc)[:200]}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _bad("XML documents with a DOCTYPE are not accepted")
    depth_of = {root: 1}
    for count, elem in enumerate(root.iter(), start=1):
        if not isinstance(elem.tag, str):
            raise _bad("XML entity references are not accepted")
        if count > MAX_NODES:
            raise _bad(f"document has more than {MAX_NODES} elements")
        depth = depth_of[elem]
        if depth > MAX_DEPTH:
            raise _bad(f"document nested deeper than {MAX_DEPTH} levels")
        for child in elem:
            depth_of[child] = depth + 1
    return root


def parse_data(body: bytes, fmt: Format, *, max_bytes: int = MAX_BYTES) -> Any:
    """Bytes -> plain data (JSON, YAML) or an lxml element (XML), bounded and safe."""
    if len(body) > max_bytes:
        raise DocumentError(413, "Document too large", f"more than {max_bytes} bytes", None)
    if fmt is Format.XML:
        return _parse_xml(body)
    data = _parse_json(body) if fmt is Format.JSON else _parse_yaml(body)
    _check_shape(data)
    return data


# ----------------------------------------------------------------- document types


@dataclass(frozen=True)
class DocType:
    """One kind of document: its XML root element(s) and its validator."""

    name: str
    root: str
    type_: Any
    validate: Callable[[Any], Any]
    legacy_roots: tuple[str, ...] = ()


def _model_validator(cls: type[BaseModel]) -> Callable[[Any], Any]:
    return cls.model_validate


REQUEST = DocType(
    "request",
    "offers-request",
    ExecutionRequestDocument,
    _model_validator(ExecutionRequestDocument),
)
OFFERSET = DocType(
    "offerset", "offers-response", OfferSetResponse, _model_validator(OfferSetResponse)
)
SESSION = DocType("session", "execution", ExecutionSession, _model_validator(ExecutionSession))
UPDATE = DocType("update", "update", Update, update_adapter().validate_python)
SESSIONS = DocType("session list", "sessions", SessionList, _model_validator(SessionList))
OFFERSETS = DocType("offer set list", "offersets", OfferSetList, _model_validator(OfferSetList))


def load(body: bytes, content_type: str | None, doc: DocType, *, max_bytes: int = MAX_BYTES) -> Any:
    """Parse and validate one document; every failure is a :class:`DocumentError`."""
    fmt = request_format(content_type)
    parsed = parse_data(body, fmt, max_bytes=max_bytes)
    if fmt is Format.XML:
        root = xmlbind.root_name(parsed)
        if root not in (doc.root, *doc.legacy_roots):
            raise _bad(f"expected an <{doc.root}> document, not <{root[:64]}>")
        data = xmlbind.element_to_data(parsed, doc.type_)
    else:
        data = parsed
        if not isinstance(data, dict):
            raise _bad(f"a {doc.name} document must be a mapping")
    try:
        return doc.validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc, title=f"Invalid {doc.name}") from None


def load_request(
    body: bytes, content_type: str | None, *, max_bytes: int = MAX_BYTES
) -> ExecutionRequestDocument:
    """An ``ExecutionRequest`` (``POST /requests``, ``POST /direct``)."""
    result: ExecutionRequestDocument = load(body, content_type, REQUEST, max_bytes=max_bytes)
    return result


def load_update(body: bytes, content_type: str | None, *, max_bytes: int = MAX_BYTES) -> AnyUpdate:
    """An update (``POST /sessions/{uuid}``); the legacy ``{update: ...}`` is unwrapped."""
    result: AnyUpdate = load(body, content_type, UPDATE, max_bytes=max_bytes)
    return result


def load_session(body: bytes, content_type: str | None) -> ExecutionSession:
    result: ExecutionSession = load(body, content_type, SESSION)
    return result


def load_offerset(body: bytes, content_type: str | None) -> OfferSetResponse:
    result: OfferSetResponse = load(body, content_type, OFFERSET)
    return result


# ---------------------------------------------------------------------- writing


_MAPS = frozenset({"environment", "values"})


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _prune(v)
            for k, v in value.items()
            if v != [] and v is not None and not (v == {} and k in _MAPS)
        }
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def to_data(model: BaseModel) -> dict[str, Any]:
    """JSON-mode data of a document: ``None`` and empty lists left out."""
    data: dict[str, Any] = _prune(model.model_dump(mode="json", exclude_none=True))
    return data


def _root_for(model: BaseModel) -> DocType:
    if isinstance(model, ExecutionRequestDocument):
        return REQUEST
    if isinstance(model, OfferSetResponse):
        return OFFERSET
    if isinstance(model, ExecutionSession):
        return SESSION
    if isinstance(model, SessionList):
        return SESSIONS
    if isinstance(model, OfferSetList):
        return OFFERSETS
    if isinstance(model, AnyUpdate):
        return UPDATE
    raise TypeError(f"{type(model).__name__} is not an ExecutionBroker document")


def dump(model: BaseModel, fmt: Format) -> bytes:
    """A document model -> bytes in ``fmt``."""
    data = to_data(model)
    if fmt is Format.JSON:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    if fmt is Format.YAML:
        text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        return text.encode()
    doc = _root_for(model)
    elem = xmlbind.data_to_element(doc.root, doc.type_, data)
    out: bytes = etree.tostring(elem, xml_declaration=True, encoding="UTF-8")
    return out


def render(model: BaseModel, accept: str | None) -> tuple[bytes, str]:
    """Body and ``Content-Type`` for a response, negotiated from ``Accept``."""
    fmt = response_format(accept)
    return dump(model, fmt), CONTENT_TYPES[fmt]
