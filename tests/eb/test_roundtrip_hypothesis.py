"""Property: every valid document survives JSON, YAML and XML unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivoa_broker.eb import formats
from ivoa_broker.eb.convert import offer_session, offer_set, phase_options, to_execution_request
from ivoa_broker.eb.kinds import ALIASES, Kind
from ivoa_broker.eb.model import ExecutionRequestDocument, SessionPhase
from ivoa_broker.protocol import Offer, Resources

_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(0x20) if chr(c) not in "\t\n"]
    + [chr(c) for c in range(0x7F, 0xA0)],
)
text = st.text(_CHARS, max_size=24)
names = st.text(_CHARS, min_size=1, max_size=16).filter(lambda s: "\t" not in s and "\n" not in s)
env_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z")
urls = st.builds(
    lambda host, path: f"https://{host}.example.org/{path}",
    st.from_regex(r"\A[a-z]{1,8}\Z"),
    st.from_regex(r"\A[a-z0-9/._-]{0,16}\Z"),
)
images = st.from_regex(r"\A[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}(:[a-z0-9.]{1,8})?\Z")
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=300)).map(
    lambda d: f"PT{int(d.total_seconds())}S"
)


def spelling(kind: Kind) -> st.SearchStrategy[str]:
    """Any accepted spelling of ``kind`` (the alias table, as clients send it)."""
    forms = sorted(alias for alias, target in ALIASES.items() if target is kind)
    return st.sampled_from([kind.value, *forms])


def min_max(low: int, high: int) -> st.SearchStrategy[dict[str, int]]:
    return st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda t: {"min": min(t), "max": max(t)}
    )


def meta(name: st.SearchStrategy[str] = names) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "name": name,
            "description": text,
            "uuid": st.uuids().map(str),
            "created": instants.map(lambda d: d.isoformat()),
            "messages": st.lists(
                st.fixed_dictionaries(
                    {"level": st.sampled_from(["DEBUG", "INFO", "WARN", "ERROR", "OTHER"])},
                    optional={
                        "message": text,
                        "template": text,
                        "values": st.dictionaries(names, text, max_size=3),
                    },
                ),
                max_size=2,
            ),
        },
    )


docker = st.fixed_dictionaries(
    {
        "kind": spelling(Kind.DOCKER_CONTAINER),
        "image": st.fixed_dictionaries(
            {"locations": st.lists(images, min_size=1, max_size=3)},
            optional={
                "digest": st.from_regex(r"\Asha256:[0-9a-f]{64}\Z"),
                "platform": st.fixed_dictionaries({"architecture": names, "os": names}),
            },
        ),
    },
    optional={
        "meta": meta(),
        "entrypoint": text,
        "command": st.lists(text, max_size=5),
        "environment": st.dictionaries(env_names, text, max_size=4),
        "network": st.fixed_dictionaries(
            {
                "ports": st.lists(
                    st.fixed_dictionaries(
                        {
                            "access": st.booleans(),
                            "protocol": st.sampled_from(["TCP", "UDP", "HTTP", "HTTPS"]),
                        },
                        optional={
                            "internal": st.fixed_dictionaries({"port": st.integers(1, 65535)}),
                            "path": names,
                        },
                    ),
                    max_size=2,
                )
            }
        ),
    },
)
notebook = st.fixed_dictionaries(
    {"kind": spelling(Kind.JUPYTER_NOTEBOOK), "location": urls}, optional={"meta": meta()}
)
singularity = st.fixed_dictionaries(
    {"kind": spelling(Kind.SINGULARITY_CONTAINER), "location": urls}
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    data_names = draw(st.lists(names, max_size=3, unique=True))
    data = []
    for name in data_names:
        if draw(st.booleans()):
            data.append(
                {
                    "kind": draw(spelling(Kind.SIMPLE_DATA_RESOURCE)),
                    "meta": {"name": name},
                    "location": draw(urls),
                }
            )
        else:
            data.append(
                {
                    "kind": draw(spelling(Kind.S3_DATA_RESOURCE)),
                    "meta": {"name": name},
                    "bucket": draw(names),
                    "object": draw(names),
                }
            )
    doc: dict[str, Any] = {"executable": draw(st.one_of(docker, notebook, singularity))}
    if data:
        doc["data"] = data
    if draw(st.booleans()):
        compute: dict[str, Any] = {"kind": draw(spelling(Kind.SIMPLE_COMPUTE_RESOURCE))}
        for key, low, high in (("cores", 1, 1024), ("memory", 1, 65536), ("gpus", 0, 64)):
            if draw(st.booleans()):
                compute[key] = draw(min_max(low, high))
        if data_names and draw(st.booleans()):
            compute["volumes"] = [
                {
                    "path": "/" + draw(st.from_regex(r"\A[a-z]{1,8}\Z")),
                    "mode": draw(st.sampled_from(["READONLY", "READWRITE"])),
                    "resource": draw(st.sampled_from(data_names)),
                }
            ]
        doc["compute"] = compute
    if draw(st.booleans()):
        doc["storage"] = [{"size": draw(min_max(1, 1000)), "data": data_names[:1]}]
    if draw(st.booleans()):
        requested: dict[str, Any] = {"duration": draw(durations)}
        if draw(st.booleans()):
            start = draw(instants)
            requested["start"] = f"{start.isoformat()}/{draw(durations)}"
        doc["schedule"] = {"requested": requested}
    if draw(st.booleans()):
        doc["costs"] = [
            {
                "type": "urn:ivoa:calycopis:cost:monetary",
                "max": draw(st.floats(0, 1e6, allow_nan=False)),
            }
        ]
    return doc


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(requests())
def test_request_round_trips_in_every_format(raw: dict[str, Any]) -> None:
    doc = ExecutionRequestDocument.model_validate(raw)
    neutral = to_execution_request(doc, job_id="j", owner="o") if not _privileged(doc) else None
    for fmt in formats.Format:
        back = formats.load_request(formats.dump(doc, fmt), formats.CONTENT_TYPES[fmt])
        assert back == doc, fmt
        if neutral is not None:
            assert to_execution_request(back, job_id="j", owner="o") == neutral


def _privileged(doc: ExecutionRequestDocument) -> bool:
    return bool(getattr(doc.executable, "privileged", False))


offers = st.builds(
    Offer,
    adapter=names,
    offer_id=names,
    summary=text,
    resources=st.builds(
        Resources,
        cores=st.one_of(st.none(), st.floats(0.1, 5000)),
        memory_bytes=st.one_of(st.none(), st.integers(1, 2**47)),
        gpus=st.integers(0, 64),
        walltime_seconds=st.one_of(st.none(), st.integers(0, 300 * 86400)),
    ),
    start=st.one_of(st.none(), instants),
    expires_at=st.one_of(st.none(), instants),
    reserved=st.booleans(),
    cost=st.dictionaries(st.from_regex(r"\A[a-z]{1,8}\Z"), st.floats(0, 1e6)),
    warnings=st.lists(text, max_size=2).map(tuple),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    requests(),
    st.lists(offers, min_size=0, max_size=3),
    st.uuids(),
    instants,
    st.sampled_from(list(SessionPhase)),
)
def test_offer_sessions_and_sets_round_trip(
    raw: dict[str, Any], some: list[Offer], uid: UUID, now: datetime, phase: SessionPhase
) -> None:
    doc = ExecutionRequestDocument.model_validate(raw)
    sessions = [
        offer_session(
            o,
            doc,
            session_id=uid,
            base_url="https://eb.example.org",
            created=now,
            phase=phase,
            options=phase_options([SessionPhase.CANCELLED], extend_max_seconds=3600),
        )
        for o in some
    ]
    oset = offer_set(sessions, offerset_id=uid, base_url="https://eb.example.org", created=now)
    for fmt in formats.Format:
        back = formats.load_offerset(formats.dump(oset, fmt), formats.CONTENT_TYPES[fmt])
        assert back == oset, fmt
