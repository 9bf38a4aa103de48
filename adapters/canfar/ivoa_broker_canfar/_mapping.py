"""ExecutionRequest -> skaha ``POST /v1/session`` parameters.

=====================================  ===============================================
request                                skaha form parameter
=====================================  ===============================================
``kind="batch"``                       ``type=headless``
``kind="interactive"``                 ``type`` = extension ``canfar.type``, else
                                       ``notebook`` when ``request.notebook`` is set,
                                       else ``default_interactive_type``
``image``                              ``image``; short names expanded as the ``canfar``
                                       client does (``skaha/x`` ->
                                       ``images.canfar.net/skaha/x:latest``); must start
                                       with a ``/v1/repository`` host; an image
                                       ``/v1/image`` does not list needs ``registry_auth``
``command[0]``                         ``cmd`` (headless only)
``command[1:]``                        ``args``, joined by single spaces (headless only)
``env``                                ``env=KEY=VALUE``, repeated (headless only)
``resources.cores``                    ``cores``, fractional when its integer part is a
                                       ``/context`` option, else rounded up to one
``resources.memory_bytes``             ``ram`` in GiB, the same way
``resources.gpus``                     ``gpus``, rounded up to an option (omitted for 0)
job id                                 ``name`` (see :mod:`._naming`)
extension ``canfar.replicas`` = N      N headless sessions ``{name}-1..N``, as the
                                       ``canfar`` client launches them
(always, headless)                     ``env`` ``REPLICA_ID``, ``REPLICA_COUNT`` (as the
                                       client injects them)
``inputs``                             not supported: no offer (skaha cannot stage)
=====================================  ===============================================

skaha splits ``args`` on single spaces and ``env`` on ``=``, and writes both
into YAML between double quotes, so the values that would be silently mangled
(whitespace inside an argument, ``=`` in an environment value, quotes,
backslashes, empty strings) are refused with :class:`InvalidRequest`.
skaha does not check an image's type labels; a mismatch is only a warning.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ivoa_broker.protocol import JSON, ExecutionRequest, InvalidRequest, Resources
from ivoa_broker_canfar._client import FormValue
from ivoa_broker_canfar._config import INTERACTIVE_TYPES, CanfarConfig
from ivoa_broker_canfar._models import ContextInfo, ImageInfo

GIB = 1024**3
#: the registry the ``canfar`` client puts in front of ``project/image`` names
DEFAULT_REGISTRY = "images.canfar.net"
MAX_REPLICAS = 256
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNSAFE = re.compile(r'["\\\n\r]')


class CannotServe(Exception):
    """This platform cannot run the request (offers() answers ``[]``)."""


@dataclass(frozen=True)
class Catalog:
    """What ``/v1/context``, ``/v1/image`` and ``/v1/repository`` said."""

    context: ContextInfo
    images: tuple[ImageInfo, ...]
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """A validated skaha session request."""

    type: str
    image: str
    cores: float | None = None
    ram_gb: float | None = None
    gpus: int | None = None
    cmd: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    replicas: int = 1

    def terms(self) -> dict[str, JSON]:
        """What the offer promises (echoed back to ``submit`` for re-checking)."""
        terms: dict[str, JSON] = {
            "type": self.type,
            "image": self.image,
            "cores": self.cores,
            "ram_gb": self.ram_gb,
            "gpus": self.gpus,
        }
        if self.replicas > 1:
            terms["replicas"] = self.replicas
        return terms

    def resources(self, walltime_seconds: int | None) -> Resources:
        return Resources(
            cores=float(self.cores) if self.cores is not None else None,
            memory_bytes=round(self.ram_gb * GIB) if self.ram_gb is not None else None,
            gpus=self.gpus or 0,
            walltime_seconds=walltime_seconds,
        )

    def form(self, name: str, replica: int = 1) -> dict[str, FormValue]:
        """The ``POST /v1/session`` form of replica ``replica`` (1-based)."""
        form: dict[str, FormValue] = {"name": name, "image": self.image, "type": self.type}
        if self.cores is not None:
            form["cores"] = f"{self.cores:g}"
        if self.ram_gb is not None:
            form["ram"] = f"{self.ram_gb:g}"
        if self.gpus:
            form["gpus"] = str(self.gpus)
        if self.cmd is not None:
            form["cmd"] = self.cmd
        if self.args:
            form["args"] = " ".join(self.args)
        env = dict(self.env)
        if self.type == "headless":
            env |= {"REPLICA_ID": str(replica), "REPLICA_COUNT": str(self.replicas)}
        if env:
            form["env"] = [f"{k}={v}" for k, v in env.items()]
        return form


def round_up(wanted: float, options: Sequence[int]) -> int | None:
    """The smallest option >= ``wanted``, or ``None`` when all are smaller."""
    fits = [o for o in options if o >= wanted]
    return min(fits) if fits else None


def session_type(request: ExecutionRequest, config: CanfarConfig) -> str:
    asked = request.extensions_for("canfar").get("type")
    if request.kind == "batch":
        if asked not in (None, "headless"):
            raise InvalidRequest(
                f"canfar.type={asked!r} is an interactive session type but the job is batch"
            )
        return "headless"
    if asked is not None:
        if asked not in INTERACTIVE_TYPES:
            raise InvalidRequest(
                f"canfar.type={asked!r} is not an interactive skaha session type "
                f"(one of {', '.join(INTERACTIVE_TYPES)})"
            )
        return asked
    if request.notebook:
        return "notebook"
    return config.default_interactive_type


def _pick(
    what: str, unit: str, wanted: float, options: Sequence[int], warnings: list[str]
) -> float:
    """skaha takes a fractional value whose integer part is an option as it is."""
    if not options:
        raise CannotServe(f"CANFAR offers no {what} values")
    if int(wanted) in options:
        return wanted
    chosen = round_up(wanted, options)
    if chosen is None:
        raise CannotServe(
            f"{wanted:g}{unit} {what} asked, CANFAR offers at most {max(options)}{unit}"
        )
    if chosen != wanted:
        warnings.append(
            f"{what} rounded up from {wanted:g}{unit} to {chosen}{unit} "
            f"(CANFAR offers {', '.join(str(o) for o in options)})"
        )
    return chosen


def expand_image(image: str, registry: str = DEFAULT_REGISTRY) -> str:
    """The ``canfar`` client's normalisation: ``project/name[:tag]`` gets the
    registry in front, and a name without a tag gets ``:latest``."""
    parts = image.split("/")
    if len(parts) not in (2, 3):
        return image
    if len(parts) == 2:
        image = f"{registry}/{image}"
    if ":" not in image.split("/")[-1]:
        image += ":latest"
    return image


def _image(
    request: ExecutionRequest,
    stype: str,
    catalog: Catalog,
    config: CanfarConfig,
    warnings: list[str],
) -> str:
    image = request.image or (config.default_image if stype == "headless" else None)
    if image is None:
        candidates = [i.id for i in catalog.images if stype in i.types]
        if stype == "headless" or not candidates:
            raise CannotServe(f"no image given and none configured for {stype} sessions")
        image = sorted(candidates)[0]
        warnings.append(f"no image asked for; using {image}")
    image = expand_image(image, catalog.hosts[0] if catalog.hosts else DEFAULT_REGISTRY)
    if catalog.hosts and not any(image.startswith(h) for h in catalog.hosts):
        raise CannotServe(f"image {image} is not on a CANFAR registry ({', '.join(catalog.hosts)})")
    known = {i.id: i for i in catalog.images}
    if image not in known:
        if config.registry_auth is None:
            near = difflib.get_close_matches(image, list(known), n=3, cutoff=0.8)
            hint = f"; nearest: {', '.join(near)}" if near else ""
            raise InvalidRequest(
                f"CANFAR lists no public image {image}{hint}; skaha runs unlisted (private) "
                "images only with registry credentials (set registry_auth)"
            )
        warnings.append(f"{image} is not listed by CANFAR; pulled with the registry credentials")
    elif stype not in known[image].types:
        labels = ", ".join(known[image].types) or "no"
        warnings.append(f"{image} is labelled for {labels} sessions, not {stype}")
    return image


def _replicas(request: ExecutionRequest, stype: str) -> int:
    raw = request.extensions_for("canfar").get("replicas", "1").strip()
    asked = int(raw) if raw.isdigit() else 0
    if not 1 <= asked <= MAX_REPLICAS:
        raise InvalidRequest(f"canfar.replicas must be a whole number 1..{MAX_REPLICAS}")
    if asked > 1 and stype != "headless":
        raise InvalidRequest("canfar.replicas is for batch (headless) jobs only")
    return asked


def _command(request: ExecutionRequest, stype: str) -> tuple[str | None, tuple[str, ...]]:
    if not request.command:
        return None, ()
    if stype != "headless":
        raise InvalidRequest(f"a command can only be given to headless sessions, not {stype}")
    cmd, *args = request.command
    if not cmd or _UNSAFE.search(cmd):
        raise InvalidRequest("skaha cannot pass an empty command or one with quotes/backslashes")
    for arg in args:
        if not arg or _UNSAFE.search(arg) or any(c.isspace() for c in arg):
            raise InvalidRequest(
                f"skaha passes arguments as one space-separated string, so the argument "
                f"{arg!r} cannot be passed intact (no whitespace, quotes, backslashes or empty "
                "arguments); wrap the command in a script inside the image"
            )
    return cmd, tuple(args)


def _env(request: ExecutionRequest, stype: str) -> tuple[tuple[str, str], ...]:
    if not request.env:
        return ()
    if stype != "headless":
        raise InvalidRequest(
            f"environment variables can only be given to headless sessions, not {stype}"
        )
    for key, value in request.env.items():
        if not _ENV_KEY.match(key):
            raise InvalidRequest(f"environment variable name {key!r} is not valid")
        if not value or "=" in value or _UNSAFE.search(value):
            raise InvalidRequest(
                f"skaha drops or mangles environment values that are empty or contain '=', "
                f"quotes or backslashes: {key}"
            )
    return tuple(sorted(request.env.items()))


def plan(request: ExecutionRequest, catalog: Catalog, config: CanfarConfig) -> Plan:
    """Validate and map ``request``.

    Raises :class:`InvalidRequest` for requests that are wrong for CANFAR
    (unknown image, bad arguments) and :class:`CannotServe` for ones CANFAR
    simply cannot run (too big, image from another registry).
    """
    warnings: list[str] = []
    stype = session_type(request, config)
    if request.inputs:
        raise CannotServe("CANFAR sessions cannot have inputs staged for them")
    image = _image(request, stype, catalog, config, warnings)
    replicas = _replicas(request, stype)
    cmd, args = _command(request, stype)
    env = _env(request, stype)
    res, context = request.resources, catalog.context
    cores = ram = gpus = None
    if res.cores is not None:
        cores = _pick("cores", "", res.cores, context.cores, warnings)
    if res.memory_bytes is not None:
        ram = _pick(
            "memory",
            " GiB",
            math.ceil(res.memory_bytes / GIB * 1000) / 1000,
            context.memory_gb,
            warnings,
        )
    if res.gpus:
        gpus = int(_pick("GPUs", "", res.gpus, context.gpus, warnings))
    if res.disk_bytes is not None:
        warnings.append("CANFAR sessions use shared storage; the disk request is not enforced")
    if request.notebook:
        warnings.append(
            f"skaha cannot open a notebook by URL; fetch {request.notebook} in the session"
        )
    if replicas > 1:
        warnings.append(
            f"{replicas} sessions (REPLICA_ID 1..{replicas}); results and logs from every one"
        )
    return Plan(stype, image, cores, ram, gpus, cmd, args, env, tuple(warnings), replicas)
