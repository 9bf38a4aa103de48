from __future__ import annotations

from typing import Any

from lxml import etree

from ivoa_broker.eb.kinds import Kind
from ivoa_broker.eb.model import ExecutionRequestDocument, ExecutionSession, SessionList
from ivoa_broker.eb.xmlbind import NAMESPACE, data_to_element, element_to_data

NS = {"eb": NAMESPACE}


def request_element(data: dict[str, Any]) -> Any:
    return data_to_element("offers-request", ExecutionRequestDocument, data)


DOCKER = {
    "kind": Kind.DOCKER_CONTAINER.value,
    "image": {"locations": ["a/b:1", "c/d:2"]},
    "privileged": False,
    "command": ["x", " spaced "],
    "environment": {"A": "1", "B": ""},
}


def test_binding_shapes() -> None:
    elem = request_element({"executable": DOCKER})
    assert elem.tag == f"{{{NAMESPACE}}}offers-request"
    exe = elem.find("eb:executable", NS)
    assert exe.get("kind") == Kind.DOCKER_CONTAINER.value
    assert exe.find("eb:kind", NS) is None
    assert [e.text for e in exe.findall("eb:image/eb:locations/eb:location", NS)] == [
        "a/b:1",
        "c/d:2",
    ]
    assert [e.text for e in exe.findall("eb:command/eb:arg", NS)] == ["x", " spaced "]
    assert [(e.get("name"), e.text) for e in exe.findall("eb:environment/eb:entry", NS)] == [
        ("A", "1"),
        ("B", ""),
    ]
    assert exe.find("eb:privileged", NS).text == "false"


def test_read_gives_the_same_plain_data() -> None:
    elem = request_element({"executable": DOCKER})
    data = element_to_data(elem, ExecutionRequestDocument)
    assert data["executable"]["environment"] == {"A": "1", "B": ""}
    assert data["executable"]["command"] == ["x", " spaced "]
    assert data["executable"]["privileged"] == "false"  # text; validation converts
    assert ExecutionRequestDocument.model_validate(data) == (
        ExecutionRequestDocument.model_validate({"executable": DOCKER})
    )


def test_nested_lists_of_documents() -> None:
    session = {"phase": "OFFERED", "kind": Kind.SCHEDULED_EXECUTION_SESSION.value}
    elem = data_to_element("sessions", SessionList, {"sessions": [session, session]})
    assert len(elem.findall("eb:sessions/eb:execution", NS)) == 2
    back = SessionList.model_validate(element_to_data(elem, SessionList))
    assert back.sessions == [ExecutionSession.model_validate(session)] * 2


def test_unknown_elements_are_kept_for_validation_to_report() -> None:
    elem = etree.fromstring(
        b"<offers-request><executable kind='uri:jupyter-notebook-1.0'><location>https://x.org/n"
        b"</location><colour><r>1</r></colour></executable></offers-request>"
    )
    data = element_to_data(elem, ExecutionRequestDocument)
    assert data["executable"]["kind"] == Kind.JUPYTER_NOTEBOOK.value
    assert data["executable"]["colour"] == {"r": "1"}
