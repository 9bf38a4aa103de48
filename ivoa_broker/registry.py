"""Plug-in discovery (entry point group ``ivoa_broker.adapters``) and instances.

The core knows no platform by name: every adapter, built-in or third-party, is
found here. A plug-in that fails to import, declares an unsupported
``api_version``, or shares its name with another distribution is reported and
skipped; it never stops the broker from starting.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ivoa_broker.config import AdapterInstance
from ivoa_broker.guard import Guard
from ivoa_broker.protocol import (
    DEFAULT_CALL_TIMEOUT,
    SUPPORTED_API_VERSIONS,
    Adapter,
    AdapterConfig,
    AdapterDeps,
    AdapterError,
    BaseAdapter,
    Phase,
)

ENTRY_POINT_GROUP = "ivoa_broker.adapters"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plugin:
    """One entry point: its class when usable, else why not."""

    name: str
    target: str
    distribution: str | None
    adapter_class: type[Adapter] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.adapter_class is not None


@dataclass(frozen=True)
class InstanceProblem:
    instance: str
    plugin: str
    message: str


def discover(group: str = ENTRY_POINT_GROUP) -> dict[str, Plugin]:
    """Every plug-in of the group, loaded or with the reason it cannot be used."""
    found: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, []).append(ep)
    plugins: dict[str, Plugin] = {}
    for name, eps in sorted(found.items()):
        dists = sorted({_dist_name(ep) or "?" for ep in eps})
        if len(dists) > 1:
            plugins[name] = Plugin(
                name,
                ", ".join(ep.value for ep in eps),
                ", ".join(dists),
                error=(
                    f"plug-in name {name!r} is registered by several distributions "
                    f"({', '.join(dists)}); uninstall all but one"
                ),
            )
            continue
        plugins[name] = load(eps[0])
    return plugins


def load(ep: EntryPoint) -> Plugin:
    dist = _dist_name(ep)
    try:
        obj = ep.load()
    except Exception as exc:  # a broken plug-in must not stop the broker
        return Plugin(ep.name, ep.value, dist, error=f"import failed: {type(exc).__name__}: {exc}")
    problem = check_adapter_class(ep.name, obj)
    if problem:
        return Plugin(ep.name, ep.value, dist, error=problem)
    return Plugin(ep.name, ep.value, dist, adapter_class=obj)


def check_adapter_class(name: str, obj: Any) -> str | None:
    """Why ``obj`` cannot serve as the adapter class for entry point ``name``.

    Derived from :class:`~ivoa_broker.protocol.BaseAdapter`, the one definition
    of the contract: a concrete subclass (every abstract method implemented,
    and ``status`` or ``status_many``), the right plug-in name and API version,
    a config model that is an :class:`AdapterConfig`.
    """
    if not inspect.isclass(obj):
        return f"entry point {name!r} does not name a class"
    if not issubclass(obj, BaseAdapter):
        return (
            f"class {obj.__name__} is not a subclass of ivoa_broker.protocol.BaseAdapter "
            "(adapter API version 2 requires it)"
        )
    plugin = getattr(obj, "plugin", None)
    if plugin != name:
        return f"class {obj.__name__} declares plugin={plugin!r} but is registered as {name!r}"
    version = getattr(obj, "api_version", None)
    if version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_API_VERSIONS))
        return (
            f"{name} is written for adapter API version {version!r}; this broker supports "
            f"{supported}: upgrade the plug-in or the broker"
        )
    config_model = getattr(obj, "config_model", None)
    if not (inspect.isclass(config_model) and issubclass(config_model, AdapterConfig)):
        return f"{name}.config_model must be a subclass of ivoa_broker.protocol.AdapterConfig"
    state_map = getattr(obj, "state_map", None)
    if not isinstance(state_map, Mapping) or not all(
        isinstance(v, Phase) for v in state_map.values()
    ):
        return f"{name}.state_map must map native state strings to Phase values"
    abstract = sorted(getattr(obj, "__abstractmethods__", ()))
    if abstract:
        return f"{name} does not implement: {', '.join(abstract)}"
    if obj.status is BaseAdapter.status and obj.status_many is BaseAdapter.status_many:
        return f"{name} implements neither status nor status_many"
    not_async = [
        m
        for m in ("offers", "submit", "status", "status_many", "cancel", "cleanup", "health")
        if not inspect.iscoroutinefunction(getattr(obj, m, None))
    ]
    if not_async:
        return f"{name}: these must be async methods: {', '.join(not_async)}"
    return None


async def start_instances(
    instances: Mapping[str, AdapterInstance],
    plugins: Mapping[str, Plugin],
    *,
    work_dir: Path,
    make_deps: Callable[[str, Path], AdapterDeps],
    stack: AsyncExitStack,
    open_timeout: float = DEFAULT_CALL_TIMEOUT,
) -> tuple[dict[str, Adapter], list[InstanceProblem]]:
    """Create and open every configured instance; report the ones that fail.

    ``open`` runs through the guard with ``open_timeout``; ``aclose`` is
    pushed on ``stack`` (also through the guard)."""
    guard = Guard(open_timeout)
    adapters: dict[str, Adapter] = {}
    problems: list[InstanceProblem] = []
    for name, spec in instances.items():
        plugin = plugins.get(spec.plugin)
        if plugin is None or plugin.adapter_class is None:
            why = plugin.error if plugin else "no such plug-in is installed"
            problems.append(InstanceProblem(name, spec.plugin, f"plug-in {spec.plugin!r}: {why}"))
            continue
        cls = plugin.adapter_class
        try:
            config = cls.config_model.model_validate(spec.config)
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
                for e in exc.errors()
            )
            problems.append(InstanceProblem(name, spec.plugin, f"invalid config: {detail}"))
            continue
        data_dir = work_dir / name
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            adapter = cls(name, config, make_deps(name, data_dir))
        except Exception as exc:  # a broken plug-in must not stop the broker
            log.exception("adapter instance %s failed to start", name)
            problems.append(
                InstanceProblem(name, spec.plugin, f"failed to start: {type(exc).__name__}: {exc}")
            )
            continue
        try:  # what __aenter__ does, through the guard (a timeout, errors as AdapterError)
            await guard.call(adapter, "open")
        except AdapterError as exc:
            problems.append(InstanceProblem(name, spec.plugin, f"failed to start: {exc.message}"))
            await _close(guard, adapter)
            continue
        stack.push_async_callback(_close, guard, adapter)
        adapters[name] = adapter
    return adapters, problems


async def _close(guard: Guard, adapter: Adapter) -> None:
    """``aclose`` through the guard; trouble is logged, never raised at shut-down."""
    try:
        await guard.call(adapter, "aclose")
    except AdapterError as exc:
        log.warning("adapter instance %s did not close cleanly: %s", adapter.name, exc.message)


def _dist_name(ep: EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else None
