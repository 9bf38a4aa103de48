"""The XML binding of the ExecutionBroker documents, driven by the pydantic models.

Rules (``xml_schemas/execution-broker.xsd`` says the same):

* elements live in :data:`NAMESPACE` (input without a namespace is accepted too,
  as the Calycopis Spring service emits none);
* an object is an element named after its JSON field; its ``kind`` is an
  attribute (``type`` is accepted on input);
* a list is a wrapper element named after the field holding one element per item
  (``command/arg``, ``data/resource``, ``messages/message``: see :data:`ITEM_NAMES`);
* a string map (``environment``, message ``values``) is a wrapper holding
  ``<entry name="KEY">value</entry>``;
* scalars are text (booleans ``true``/``false``, instants ISO 8601).

Parsing turns an element tree into the same plain data a JSON document gives,
so validation and its error paths are identical for every format.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from lxml import etree
from pydantic import BaseModel

from ivoa_broker.eb.errors import DocumentError
from ivoa_broker.eb.kinds import normalise_kind_field

__all__ = ["ITEM_NAMES", "NAMESPACE", "data_to_element", "element_to_data", "root_name"]

#: Target namespace of the project's EB XML binding.
NAMESPACE = "urn:ivoa-broker:xml:execution-broker:v1.0"

#: Element name of the items of each list field (by JSON field name).
ITEM_NAMES: Mapping[str, str] = {
    "command": "arg",
    "locations": "location",
    "addresses": "address",
    "ports": "port",
    "volumes": "volume",
    "storage": "resource",
    "data": "resource",
    "costs": "cost",
    "metrics": "metric",
    "messages": "message",
    "options": "option",
    "values": "value",
    "offers": "offer",
    "connectors": "connector",
    "sessions": "execution",
    "offersets": "offers-response",
}
ENTRY = "entry"

_NONE = type(None)


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _local(tag: Any, path: str) -> str:
    if not isinstance(tag, str):
        raise DocumentError(400, "Invalid XML", "unexpected XML node", path)
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        if ns != NAMESPACE:
            raise DocumentError(400, "Invalid XML", f"unexpected namespace {ns[:200]!r}", path)
        return local
    return tag


def _strip(tp: Any) -> Any:
    """Remove ``Annotated`` and ``None`` from a type."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not _NONE]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _models(tp: Any) -> list[type[BaseModel]]:
    """The model classes a (union) type may hold; empty for scalars."""
    tp = _strip(tp)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return [m for a in get_args(tp) for m in _models(a)]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return []


def _kind_of(cls: type[BaseModel]) -> set[str]:
    field = cls.model_fields.get("kind")
    if field is None:
        return set()
    ann = _strip(field.annotation)
    if get_origin(ann) is Literal:
        return {str(v.value) if hasattr(v, "value") else str(v) for v in get_args(ann)}
    return set()


def _pick(models: list[type[BaseModel]], kind: str | None) -> type[BaseModel] | None:
    if len(models) == 1:
        return models[0]
    for cls in models:
        if kind is not None and kind in _kind_of(cls):
            return cls
    return None


def _field(cls: type[BaseModel], key: str) -> Any:
    for name, info in cls.model_fields.items():
        if (info.alias or name) == key:
            return info.annotation
    return None


# ------------------------------------------------------------------------- write


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _write(parent: Any, name: str, tp: Any, value: Any) -> None:
    stripped = _strip(tp)
    models = _models(tp)
    if models and isinstance(value, Mapping):
        cls = _pick(models, value.get("kind"))
        child = etree.SubElement(parent, _q(name))
        _fill(child, cls, value)
    elif get_origin(stripped) is list:
        wrapper = etree.SubElement(parent, _q(name))
        item_tp = get_args(stripped)[0]
        for item in value:
            _write(wrapper, ITEM_NAMES.get(name, "item"), item_tp, item)
    elif get_origin(stripped) is dict:
        wrapper = etree.SubElement(parent, _q(name))
        for key, item in value.items():
            entry = etree.SubElement(wrapper, _q(ENTRY), name=str(key))
            entry.text = _text(item)
    else:
        etree.SubElement(parent, _q(name)).text = _text(value)


def _fill(elem: Any, cls: type[BaseModel] | None, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if (
            key == "kind"
            and isinstance(value, str)
            and cls is not None
            and "kind" in cls.model_fields
        ):
            elem.set("kind", value)
            continue
        _write(elem, key, _field(cls, key) if cls is not None else Any, value)


def data_to_element(root: str, tp: Any, data: Mapping[str, Any]) -> Any:
    """Plain (JSON-mode) data of a document of type ``tp`` -> an lxml element ``root``."""
    elem = etree.Element(_q(root), nsmap={None: NAMESPACE})
    _fill(elem, _pick(_models(tp), data.get("kind")), data)
    return elem


# -------------------------------------------------------------------------- read


def _has_text(elem: Any) -> bool:
    return bool(elem.text and elem.text.strip())


def _generic(elem: Any, path: str) -> Any:
    """An element the models do not describe: keep its shape so validation reports it."""
    children = list(elem)
    if not children:
        return elem.text or ""
    out: dict[str, Any] = dict(elem.attrib)
    for child in children:
        out[_local(child.tag, path)] = _generic(child, path)
    return out


def _read(elem: Any, tp: Any, path: str) -> Any:
    stripped = _strip(tp)
    models = _models(tp)
    if models:
        return _read_object(elem, models, path)
    if get_origin(stripped) is list:
        item_tp = get_args(stripped)[0]
        if _has_text(elem):
            raise DocumentError(400, "Invalid XML", "text where a list was expected", path)
        return [_read(child, item_tp, f"{path}[{i}]") for i, child in enumerate(elem)]
    if get_origin(stripped) is dict:
        out: dict[str, str] = {}
        for child in elem:
            key = child.get("name")
            if _local(child.tag, path) != ENTRY or key is None:
                raise DocumentError(400, "Invalid XML", "expected <entry name=...>", path)
            if key in out:
                raise DocumentError(400, "Invalid XML", f"duplicate entry {key[:64]!r}", path)
            out[key] = child.text or ""
        return out
    if len(elem):
        return _generic(elem, path)
    return elem.text or ""


def _read_object(elem: Any, models: list[type[BaseModel]], path: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for attr, value in elem.attrib.items():
        data[_local(attr, path)] = value
    data = normalise_kind_field(data)
    cls = _pick(models, data.get("kind"))
    if _has_text(elem):
        raise DocumentError(400, "Invalid XML", "unexpected text content", path)
    for child in elem:
        key = _local(child.tag, path)
        where = f"{path}.{key}" if path else key
        if key in data:
            raise DocumentError(400, "Invalid XML", f"<{key}> given more than once", where)
        field_tp = _field(cls, key) if cls is not None else None
        data[key] = _generic(child, where) if field_tp is None else _read(child, field_tp, where)
    return data


def root_name(elem: Any) -> str:
    """The local name of a document's root element (namespace checked)."""
    return _local(elem.tag, "")


def element_to_data(elem: Any, tp: Any) -> dict[str, Any]:
    """An lxml element holding a document of type ``tp`` -> plain data for validation."""
    return _read_object(elem, _models(tp), "")
