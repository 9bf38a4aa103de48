from __future__ import annotations

import pytest

from ivoa_broker.errors import BadRequest
from ivoa_broker.records import Parameter
from ivoa_broker.task_params import MAX_VALUE_LENGTH, NEUTRAL_PARAMETERS, parse_request

PLATFORMS = ["local", "canfar-keel"]


def parse(*pairs: tuple[str, str]):  # type: ignore[no-untyped-def]
    return parse_request("j1", "alice", [Parameter(k, v) for k, v in pairs], PLATFORMS)


def test_full_request() -> None:
    req = parse(
        ("cmd", "python3"),
        ("args", "-c"),
        ("args", "print(1)"),
        ("env", "A=1"),
        ("env", "B=x=y"),
        ("cores", "2.5"),
        ("memory", "4GiB"),
        ("gpus", "1"),
        ("runtime", "1h"),
        ("platform", "local"),
        ("slurm.partition", "debug"),
        ("input", "https://example.org/a.fits"),
    )
    assert req.command == ("python3", "-c", "print(1)")
    assert dict(req.env) == {"A": "1", "B": "x=y"}
    assert req.resources.cores == 2.5
    assert req.resources.memory_bytes == 4 * 1024**3
    assert req.resources.gpus == 1
    assert req.resources.walltime_seconds == 3600
    assert req.platform == "local"
    assert req.extensions == {"slurm.partition": "debug"}
    assert req.extensions_for("slurm") == {"partition": "debug"}
    assert req.inputs == ("https://example.org/a.fits",)
    assert req.owner == "alice"
    assert req.job_id == "j1"


@pytest.mark.parametrize(
    ("pairs", "names"),
    [
        ([("cores", "-2")], "'cores'"),
        ([("cores", "lots")], "'cores'"),
        ([("cores", "100000")], "'cores'"),
        ([("memory", "4 parsecs")], "'memory'"),
        ([("memory", "0")], "'memory'"),
        ([("gpus", "1000000")], "'gpus'"),
        ([("gpus", "1.5")], "'gpus'"),
        ([("runtime", "forever")], "'runtime'"),
        ([("platform", "nowhere")], "'platform'"),
        ([("cmd", "x" * (MAX_VALUE_LENGTH + 1))], "'cmd'"),
        ([("env", "1BAD=x")], "'env'"),
        ([("env", "NOEQUALS")], "'env'"),
        ([("args", "x")], "'args'"),
        ([("bogus", "x")], "'bogus'"),
        ([("cmd", "a"), ("cmd", "b")], "'cmd'"),
        ([("kind", "weird")], "'kind'"),
        ([("input", "not a url")], "'input'"),
        ([("cmd", "a\x00b")], "'cmd'"),
    ],
)
def test_bad_values_name_the_parameter(pairs: list[tuple[str, str]], names: str) -> None:
    with pytest.raises(BadRequest, match=names):
        parse(*pairs)


def test_unknown_platform_lists_configured() -> None:
    with pytest.raises(BadRequest, match="canfar-keel, local"):
        parse(("cmd", "true"), ("platform", "nope"))


def test_too_many_args() -> None:
    with pytest.raises(BadRequest, match="at most"):
        parse(("cmd", "echo"), *[("args", str(i)) for i in range(300)])


def test_parameter_table_documents_every_known_name() -> None:
    names = {p.name for p in NEUTRAL_PARAMETERS}
    for required in (
        "cmd",
        "args",
        "env",
        "image",
        "cores",
        "memory",
        "gpus",
        "runtime",
        "platform",
    ):
        assert required in names
