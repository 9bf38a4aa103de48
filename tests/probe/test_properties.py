"""Property: no client input answers 5xx, on any parameter of any route.

Values are drawn from text with control characters, extreme and odd numbers and
calendar edges; every UWS, VOSI and ExecutionBroker route gets them in each of its
parameters (and in Accept / Content-Type). ExecutionBroker errors are always
problem+json. Bounded: a few dozen examples per route.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.probe.conftest import Probe, create, settle

EDGES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "2001-02-30T00:00:00Z",
    "2001-02-30",
    "2024-02-29T24:00:00Z",
    "P" + "9" * 30 + "D",
    "PT1H30M",
    "P1DT",
]
NUMBERS = [
    "inf",
    "-inf",
    "nan",
    "NaN",
    "Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "9" * 400,
    "1" * 5000,
    "-0",
    "0",
    "-1",
    "2147483648",
    "-2147483649",
    "²",
    "١٢",
    "1_000",
    "0x10",
    " 5 ",
    "5.5",
    "1e3",
    "",
]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
CONTROL = st.text(alphabet=st.sampled_from("\x00\t\n\r\x1b\x7f\x85\u2028[31m;"), max_size=12)
EDGY = st.sampled_from(EDGES + NUMBERS)
#: edges weigh three times what free text does: they are where parsers break
VALUES = st.one_of(EDGY, EDGY, EDGY, TEXT, CONTROL)
ACCEPT = st.sampled_from(
    [
        "*/*",
        "application/json",
        "text/xml",
        "application/yaml",
        "text/html",
        "x/y;q=nan",
        "application/json;q=2",
        "",
    ]
)
EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)

UWS_NAMES = [
    "cmd",
    "args",
    "env",
    "image",
    "notebook",
    "kind",
    "cores",
    "memory",
    "gpus",
    "runtime",
    "input",
    "platform",
    "slurm.partition",
    "PHASE",
    "RUNID",
    "EXECUTIONDURATION",
    "DESTRUCTION",
    "ACTION",
    "QUOTE",
    "wAiT",
    "LAST",
    "AFTER",
]


def _form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Repeated names as httpx wants them (a dict of lists)."""
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])


def _eb_format(response: httpx.Response) -> None:
    _no_5xx(response)
    if response.status_code >= 400 and response.status_code != 405:
        assert response.headers["content-type"] == "application/problem+json", (
            response.status_code,
            response.headers.get("content-type"),
            response.text[:200],
        )


@pytest.fixture(scope="module")
def done(probe: Probe) -> str:
    """A terminal job of alice's: WAIT on it answers at once."""
    job = create(probe.alice, {"cmd": "true", "PHASE": "RUN"})
    settle(probe.alice, job)
    return job


@EXAMPLES
@given(form=st.lists(st.tuples(st.sampled_from(UWS_NAMES), VALUES), max_size=6), accept=ACCEPT)
@example(form=[("EXECUTIONDURATION", "inf")], accept="*/*")
@example(form=[("DESTRUCTION", EDGES[1])], accept="*/*")
@example(form=[("memory", "9" * 400)], accept="*/*")
def test_create_job(probe: Probe, form: list[tuple[str, str]], accept: str) -> None:
    response = probe.alice.post("/jobs", data=_form(form), headers={"Accept": accept})
    _no_5xx(response)
    if response.status_code == 303:  # keep the store small: what was made goes
        probe.alice.delete(str(response.headers["location"]))


@EXAMPLES
@given(
    phase=st.lists(VALUES, max_size=2),
    after=st.none() | VALUES,
    last=st.none() | VALUES,
    accept=ACCEPT,
)
def test_list_jobs(
    probe: Probe, phase: list[str], after: str | None, last: str | None, accept: str
) -> None:
    params = [("PHASE", p) for p in phase]
    params += [("AFTER", after)] if after is not None else []
    params += [("LAST", last)] if last is not None else []
    _no_5xx(probe.alice.get("/jobs", params=params, headers={"Accept": accept}))


@EXAMPLES
@given(wait=VALUES, phase=st.none() | VALUES, accept=ACCEPT)
@example(wait="nan", phase=None, accept="*/*")
def test_get_job(probe: Probe, done: str, wait: str, phase: str | None, accept: str) -> None:
    params = {"WAIT": wait, **({"PHASE": phase} if phase is not None else {})}
    _no_5xx(probe.alice.get(f"/jobs/{done}", params=params, headers={"Accept": accept}))


CHILDREN = [
    ("phase", "PHASE"),
    ("executionduration", "EXECUTIONDURATION"),
    ("destruction", "DESTRUCTION"),
    ("parameters", "cores"),
    ("parameters", "runtime"),
    ("parameters", "memory"),
    ("", "ACTION"),
]


@EXAMPLES
@given(child=st.sampled_from(CHILDREN), value=VALUES, accept=ACCEPT)
def test_post_job_children(probe: Probe, child: tuple[str, str], value: str, accept: str) -> None:
    job = create(probe.alice, {"cmd": "true"})
    path, name = child
    url = f"/jobs/{job}/{path}" if path else f"/jobs/{job}"
    _no_5xx(probe.alice.post(url, data={name: value}, headers={"Accept": accept}))
    probe.alice.delete(f"/jobs/{job}")


READS = [
    "",
    "/phase",
    "/executionduration",
    "/destruction",
    "/quote",
    "/owner",
    "/parameters",
    "/results",
    "/error",
]


@EXAMPLES
@given(path=st.sampled_from(READS), job=st.one_of(TEXT, CONTROL), accept=ACCEPT)
def test_read_job_resources_with_any_id(probe: Probe, path: str, job: str, accept: str) -> None:
    from urllib.parse import quote

    url = f"/jobs/{quote(job, safe='')}{path}" if job else f"/jobs{path}"
    _no_5xx(probe.alice.get(url, headers={"Accept": accept}))


@EXAMPLES
@given(result=st.one_of(TEXT, CONTROL, st.sampled_from(["../x", "%00", "stdout", "a/b/../c"])))
def test_results_with_any_id(probe: Probe, done: str, result: str) -> None:
    from urllib.parse import quote

    _no_5xx(probe.alice.get(f"/jobs/{done}/results/{quote(result, safe='/')}"))


@EXAMPLES
@given(accept=ACCEPT, extra=st.dictionaries(TEXT, VALUES, max_size=3))
def test_vosi(probe: Probe, accept: str, extra: dict[str, str]) -> None:
    for path in ("/availability", "/capabilities", "/"):
        _no_5xx(probe.alice.get(path, params=extra, headers={"Accept": accept}))


# ------------------------------------------------------------- ExecutionBroker

FILTERS = ["phase", "after", "before", "last"]


@EXAMPLES
@given(
    route=st.sampled_from(["/sessions", "/offersets"]),
    params=st.lists(st.tuples(st.sampled_from(FILTERS), VALUES), max_size=4),
    accept=ACCEPT,
)
@example(route="/sessions", params=[("last", "²")], accept="*/*")
@example(route="/offersets", params=[("after", EDGES[0])], accept="*/*")
def test_eb_lists(probe: Probe, route: str, params: list[tuple[str, str]], accept: str) -> None:
    _eb_format(probe.alice.get(route, params=params, headers={"Accept": accept}))


SCALARS = st.one_of(
    VALUES,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
FIELDS = {
    "name": SCALARS,
    "executable": st.fixed_dictionaries(
        {"kind": st.sampled_from(["command", "docker-container", "jupyter-notebook"]) | VALUES},
        optional={
            "command": st.lists(SCALARS, max_size=3),
            "image": SCALARS,
            "location": SCALARS,
            "environment": st.dictionaries(TEXT, SCALARS, max_size=2),
        },
    ),
    "compute": st.fixed_dictionaries(
        {},
        optional={
            "cores": st.fixed_dictionaries({}, optional={"min": SCALARS, "max": SCALARS}),
            "memory": st.fixed_dictionaries({}, optional={"min": SCALARS, "max": SCALARS}),
            "gpus": SCALARS,
        },
    ),
    "schedule": st.fixed_dictionaries(
        {},
        optional={
            "requested": st.fixed_dictionaries(
                {}, optional={"duration": SCALARS, "start": SCALARS, "after": SCALARS}
            )
        },
    ),
}
DOCUMENT = st.fixed_dictionaries({}, optional=FIELDS)


_SPECIAL = set(":#{}[],&*!|>'\"%@`\n\r\t\\") | {"\x00", "\x1b", "\x7f", "\x85", "\u2028"}


def _plain(value: object) -> str:
    """A scalar as YAML: plain when it can be (so YAML resolves dates and numbers
    itself: ``2001-02-30``, 5000 digits), else JSON (valid YAML flow)."""
    if isinstance(value, str) and value.strip() and not (_SPECIAL & set(value)):
        return value
    return json.dumps(value)


def _as_yaml(data: object, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(data, dict):
        if not data:
            return "{}"
        lines = [f"{pad}{json.dumps(str(k))}: {_as_yaml(v, indent + 1)}" for k, v in data.items()]
        return "\n" + "\n".join(lines) if indent else "\n".join(lines) + "\n"
    if isinstance(data, list):
        return "[" + ", ".join(_plain(v) for v in data) + "]"
    return _plain(data)


@EXAMPLES
@given(
    doc=DOCUMENT,
    fmt=st.sampled_from(["json", "yaml"]),
    route=st.sampled_from(["/requests", "/direct"]),
    accept=ACCEPT,
)
def test_eb_requests(
    probe: Probe, doc: dict[str, object], fmt: str, route: str, accept: str
) -> None:
    if fmt == "json":
        body = json.dumps(doc, allow_nan=True).encode()
        ctype = "application/json"
    else:
        body = _as_yaml(doc).encode()
        ctype = "application/yaml"
    response = probe.alice.post(
        route, content=body, headers={"Content-Type": ctype, "Accept": accept}
    )
    _eb_format(response)


@EXAMPLES
@given(
    session=st.one_of(st.just("own"), TEXT, CONTROL),
    body=st.one_of(
        st.fixed_dictionaries(
            {"kind": st.sampled_from(["update", "phase"]) | VALUES},
            optional={"phase": VALUES, "duration": SCALARS},
        ),
        st.just({}),
    ),
)
def test_eb_sessions(probe: Probe, done: str, session: str, body: dict[str, object]) -> None:
    from urllib.parse import quote

    sid = str(uuid.UUID(done)) if session == "own" else quote(session, safe="") or "x"
    _eb_format(probe.alice.get(f"/sessions/{sid}"))
    _eb_format(probe.alice.get(f"/offersets/{sid}"))
    response = probe.alice.post(
        f"/sessions/{sid}",
        content=json.dumps(body, allow_nan=True).encode(),
        headers={"Content-Type": "application/json"},
    )
    _eb_format(response)
