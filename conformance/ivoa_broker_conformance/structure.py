"""Hand-written structure rules for ``uws:job``, applied with or without the XSDs.

The child table is UWS 1.1 Appendix B (sequence order, minOccurs, nillable).
"""

from __future__ import annotations

from lxml import etree

from ivoa_broker_conformance.xmlutil import UWS, is_nil, local_name

#: (name, required, nillable) in sequence order
JOB_CHILDREN: tuple[tuple[str, bool, bool], ...] = (
    ("jobId", True, False),
    ("runId", False, False),
    ("ownerId", True, True),
    ("phase", True, False),
    ("quote", False, True),
    ("creationTime", False, False),
    ("startTime", True, True),
    ("endTime", True, True),
    ("executionDuration", True, False),
    ("destruction", True, True),
    ("parameters", False, False),
    ("results", True, False),
    ("errorSummary", False, False),
    ("jobInfo", False, False),
)
_ORDER = {name: i for i, (name, _, _) in enumerate(JOB_CHILDREN)}


def job_problems(job: etree._Element) -> list[str]:
    """Order, presence and nil problems of a ``uws:job`` element (empty if none)."""
    problems: list[str] = []
    seen: list[str] = []
    last = -1
    for el in job:
        if not isinstance(el.tag, str):
            continue
        qn = etree.QName(el)
        if qn.namespace != UWS:
            problems.append(f"child <{el.tag}> is not in the UWS namespace")
            continue
        name = qn.localname
        if name not in _ORDER:
            problems.append(f"unexpected child uws:{name}")
            continue
        if name in seen:
            problems.append(f"uws:{name} appears twice")
        if _ORDER[name] < last:
            problems.append(f"uws:{name} is out of sequence order")
        last = max(last, _ORDER[name])
        seen.append(name)
    for name, required, nillable in JOB_CHILDREN:
        if required and name not in seen:
            hint = ' (write it with xsi:nil="true" when empty)' if nillable else ""
            problems.append(f"required uws:{name} missing{hint}")
    for el in job:
        if isinstance(el.tag, str) and is_nil(el):
            name = local_name(el)
            if name in _ORDER and not JOB_CHILDREN[_ORDER[name]][2]:
                problems.append(f"uws:{name} is nil but not nillable")
    return problems
