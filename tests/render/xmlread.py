"""Independent readers for the rendered XML: lxml in, the JSON shape out.

The JSON tests compare these with :mod:`ivoa_broker.render.json_docs`, so
"JSON values equal XML values" is checked on the parsed XML, not on the
renderer's inputs.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
AVAIL = "{http://www.ivoa.net/xml/VOSIAvailability/v1.0}"
VOT = "{http://www.ivoa.net/xml/VOTable/v1.3}"
IB = "{urn:ivoa-broker}"

INSTANT_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"


def parse(doc: bytes) -> Any:
    # a safe parser: we read what we wrote, entities are never resolved
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(doc, parser)


def nillable(element: Any) -> str | None:
    if element is None or element.get(f"{XSI}nil") == "true":
        return None
    return str(element.text or "")


def _parameters(element: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": p.get("id"),
            "value": p.text or "",
            "byReference": p.get("byReference") == "true",
        }
        for p in element.iter(f"{UWS}parameter")
    ]


def _results(element: Any) -> list[dict[str, Any]]:
    out = []
    for r in element.iter(f"{UWS}result"):
        size = r.get("size")
        out.append(
            {
                "id": r.get("id"),
                "href": r.get(f"{XLINK}href"),
                "mimeType": r.get("mime-type"),
                "size": int(size) if size is not None else None,
            }
        )
    return out


def job(doc: bytes) -> dict[str, Any]:
    root = parse(doc)

    def one(local: str) -> Any:
        return root.find(f"{UWS}{local}")

    summary = one("errorSummary")
    info = one("jobInfo")
    return {
        "version": root.get("version"),
        "jobId": one("jobId").text,
        "runId": nillable(one("runId")),
        "ownerId": nillable(one("ownerId")),
        "phase": one("phase").text,
        "quote": nillable(one("quote")),
        "creationTime": one("creationTime").text,
        "startTime": nillable(one("startTime")),
        "endTime": nillable(one("endTime")),
        "executionDuration": int(one("executionDuration").text),
        "destruction": nillable(one("destruction")),
        "parameters": _parameters(one("parameters")),
        "results": _results(one("results")),
        "errorSummary": None
        if summary is None
        else {
            "type": summary.get("type"),
            "hasDetail": summary.get("hasDetail") == "true",
            "message": summary.find(f"{UWS}message").text or "",
        },
        "jobInfo": {}
        if info is None
        else {i.get("name"): i.text or "" for i in info.iter(f"{IB}item")},
    }


def jobs(doc: bytes) -> dict[str, Any]:
    root = parse(doc)
    return {
        "version": root.get("version"),
        "jobs": [
            {
                "jobId": ref.get("id"),
                "href": ref.get(f"{XLINK}href"),
                "phase": ref.find(f"{UWS}phase").text,
                "runId": nillable(ref.find(f"{UWS}runId")),
                "ownerId": nillable(ref.find(f"{UWS}ownerId")),
                "creationTime": ref.find(f"{UWS}creationTime").text,
            }
            for ref in root.iter(f"{UWS}jobref")
        ],
    }


def results(doc: bytes) -> dict[str, Any]:
    return {"results": _results(parse(doc))}


def parameters(doc: bytes) -> dict[str, Any]:
    return {"parameters": _parameters(parse(doc))}


def error(doc: bytes) -> dict[str, Any]:
    resource = parse(doc).find(f"{VOT}RESOURCE")
    infos = {i.get("name"): i for i in resource.iter(f"{VOT}INFO")}
    status = infos["QUERY_STATUS"]
    detail = infos.get("DETAIL")
    return {
        "queryStatus": status.get("value"),
        "type": infos["ERROR_TYPE"].get("value"),
        "message": status.text or "",
        "detail": None if detail is None else detail.text or "",
    }


def availability(doc: bytes) -> dict[str, Any]:
    root = parse(doc)
    up_since = root.find(f"{AVAIL}upSince")
    return {
        "available": root.find(f"{AVAIL}available").text == "true",
        "upSince": None if up_since is None else up_since.text,
        "notes": [n.text or "" for n in root.iter(f"{AVAIL}note")],
    }


def capabilities(doc: bytes) -> dict[str, Any]:
    root = parse(doc)
    out = []
    for cap in root.iter("capability"):
        description = cap.find("description")
        out.append(
            {
                "standardID": cap.get("standardID"),
                "description": None if description is None else description.text,
                "interfaces": [
                    {
                        "type": i.get(f"{XSI}type"),
                        "role": i.get("role"),
                        "accessURL": [
                            {"use": a.get("use"), "value": a.text} for a in i.iter("accessURL")
                        ],
                    }
                    for i in cap.iter("interface")
                ],
            }
        )
    return {"capabilities": out}
