"""Neutral job parameters: the one table, and parsing into an ExecutionRequest.

UWS form parameters arrive as (name, value) pairs with names already folded to
lower case. :data:`NEUTRAL_PARAMETERS` is the documented table (the README's
parameter table is generated from it; a test keeps them equal).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ivoa_broker.errors import BadRequest
from ivoa_broker.protocol import ExecutionRequest, Resources
from ivoa_broker.records import Parameter
from ivoa_broker.units import DURATION_HELP, SIZE_UNITS_HELP, parse_duration, parse_size

MAX_VALUE_LENGTH = 4096
MAX_PARAMETERS = 512
MAX_ARGS = 256
MAX_ENV = 128
MAX_CORES = 1024
MAX_GPUS = 64
MAX_MEMORY = 64 * 1024**4
MAX_RUNTIME = 366 * 86400

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXTENSION = re.compile(r"^[a-z][a-z0-9_-]*\.[a-z0-9_][a-z0-9_.-]*$")
_PLATFORM = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    repeatable: bool
    meaning: str
    example: str


NEUTRAL_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        "cmd", False, "program to run (name on the platform's PATH, or a path)", "python3"
    ),
    ParameterSpec("args", True, "one argument each, in order", "-c"),
    ParameterSpec("env", True, "one environment variable each, as NAME=value", "MODE=fast"),
    ParameterSpec(
        "image", False, "OCI container image to run the command in", "docker.io/library/python:3.12"
    ),
    ParameterSpec(
        "notebook", False, "notebook URL for an interactive session", "https://example.org/a.ipynb"
    ),
    ParameterSpec("kind", False, "batch (default) or interactive", "batch"),
    ParameterSpec("cores", False, f"CPU cores, a number > 0 and <= {MAX_CORES}", "2"),
    ParameterSpec("memory", False, f"memory: {SIZE_UNITS_HELP}", "4GiB"),
    ParameterSpec("gpus", False, f"GPUs, an integer 0..{MAX_GPUS}", "1"),
    ParameterSpec("runtime", False, f"expected run time: {DURATION_HELP}", "1h30m"),
    ParameterSpec(
        "input",
        True,
        "URL of an input to stage before the task starts",
        "https://example.org/data.fits",
    ),
    ParameterSpec("platform", False, "adapter instance to run on (default: best offer)", "local"),
    ParameterSpec(
        "<namespace>.<key>",
        True,
        "platform extension, passed through to adapters (e.g. slurm.partition)",
        "canfar.type=notebook",
    ),
)
_KNOWN = {p.name for p in NEUTRAL_PARAMETERS if "<" not in p.name}

#: UWS job-control parameters: accepted at creation, never stored as parameters.
CONTROL_PARAMETERS = frozenset({"phase", "runid", "executionduration", "destruction", "action"})


def check_parameters(params: Sequence[Parameter], platforms: Collection[str]) -> None:
    """Raise :class:`BadRequest` naming the first bad parameter."""
    parse_request("check", None, params, platforms)


def parse_request(
    job_id: str, owner: str | None, params: Sequence[Parameter], platforms: Collection[str]
) -> ExecutionRequest:
    """Stored job parameters -> the neutral request. Raises :class:`BadRequest`."""
    if len(params) > MAX_PARAMETERS:
        raise BadRequest(f"too many parameters ({len(params)}); at most {MAX_PARAMETERS}")
    single: dict[str, str] = {}
    args: list[str] = []
    env: dict[str, str] = {}
    inputs: list[str] = []
    extensions: dict[str, str] = {}
    for p in params:
        name, value = p.name, p.value
        if len(value) > MAX_VALUE_LENGTH:
            raise BadRequest(
                f"parameter {name!r} is {len(value)} characters long; at most {MAX_VALUE_LENGTH}"
            )
        if "\x00" in value:
            raise BadRequest(f"parameter {name!r} contains a NUL character")
        if name in CONTROL_PARAMETERS:
            raise BadRequest(f"{name.upper()} is a job-control parameter, not a job parameter")
        if _EXTENSION.match(name):
            extensions[name] = value
        elif name not in _KNOWN:
            raise BadRequest(
                f"unknown parameter {name!r}; known parameters are "
                f"{', '.join(sorted(_KNOWN))} and namespaced extensions like slurm.partition"
            )
        elif name == "args":
            args.append(value)
        elif name == "env":
            key, sep, val = value.partition("=")
            if not sep or not _ENV_NAME.match(key):
                raise BadRequest(
                    f"parameter 'env' must be NAME=value with NAME a shell variable name; "
                    f"got {value[:80]!r}"
                )
            env[key] = val
        elif name == "input":
            if not re.match(r"^(https?|s3|ivo|file)://", value):
                raise BadRequest(f"parameter 'input' must be a URL; got {value[:80]!r}")
            inputs.append(value)
        elif name in single:
            raise BadRequest(f"parameter {name!r} given more than once; give it once")
        else:
            single[name] = value
    if len(args) > MAX_ARGS:
        raise BadRequest(f"parameter 'args' given {len(args)} times; at most {MAX_ARGS}")
    if len(env) > MAX_ENV:
        raise BadRequest(f"parameter 'env' given {len(env)} times; at most {MAX_ENV}")
    if args and "cmd" not in single:
        raise BadRequest("parameter 'args' needs 'cmd' (the program to run)")
    command = tuple(([single["cmd"]] if "cmd" in single else []) + args)
    if "cmd" in single and not single["cmd"].strip():
        raise BadRequest("parameter 'cmd' is empty; name the program to run")
    kind = single.get("kind", "batch")
    if kind not in ("batch", "interactive"):
        raise BadRequest(f"parameter 'kind' must be 'batch' or 'interactive'; got {kind!r}")
    platform = single.get("platform")
    if platform is not None and (not _PLATFORM.match(platform) or platform not in platforms):
        known = ", ".join(sorted(platforms)) or "none"
        raise BadRequest(f"parameter 'platform': no platform {platform!r}; configured: {known}")
    return ExecutionRequest(
        job_id=job_id,
        owner=owner,
        kind="interactive" if kind == "interactive" else "batch",
        command=command,
        image=single.get("image"),
        notebook=single.get("notebook"),
        env=env,
        resources=Resources(
            cores=_cores(single.get("cores")),
            memory_bytes=_bounded_size("memory", single.get("memory"), MAX_MEMORY),
            gpus=_gpus(single.get("gpus")),
            walltime_seconds=_runtime(single.get("runtime")),
        ),
        inputs=tuple(inputs),
        extensions=extensions,
        platform=platform,
    )


def _cores(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"parameter 'cores' must be a number; got {text[:40]!r}") from None
    if not 0 < value <= MAX_CORES:
        raise BadRequest(f"parameter 'cores' must be > 0 and <= {MAX_CORES}; got {text[:40]!r}")
    return value


def _gpus(text: str | None) -> int:
    if text is None:
        return 0
    if not re.fullmatch(r"\d{1,6}", text.strip()):
        raise BadRequest(f"parameter 'gpus' must be a whole number; got {text[:40]!r}")
    value = int(text)
    if value > MAX_GPUS:
        raise BadRequest(f"parameter 'gpus' must be <= {MAX_GPUS}; got {value}")
    return value


def _bounded_size(name: str, text: str | None, limit: int) -> int | None:
    if text is None:
        return None
    try:
        value = parse_size(text)
    except ValueError as exc:
        raise BadRequest(f"parameter {name!r}: {exc}") from None
    if value <= 0 or value > limit:
        raise BadRequest(f"parameter {name!r} must be > 0 and <= {limit} bytes; got {text!r}")
    return value


def _runtime(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise BadRequest(f"parameter 'runtime': {exc}") from None
    if value <= 0 or value > MAX_RUNTIME:
        raise BadRequest(
            f"parameter 'runtime' must be > 0 and <= {MAX_RUNTIME} seconds; got {text!r}"
        )
    return value


def parameter_table_markdown() -> str:
    """The README's parameter table, generated from :data:`NEUTRAL_PARAMETERS`."""
    rows = ["| parameter | repeatable | meaning | example |", "|---|---|---|---|"]
    for spec in NEUTRAL_PARAMETERS:
        rows.append(
            f"| `{spec.name}` | {'yes' if spec.repeatable else 'no'} | {spec.meaning} | "
            f"`{spec.example}` |"
        )
    return "\n".join(rows)
