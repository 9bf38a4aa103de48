"""Everything a configuration must get right, checked before the broker listens.

``serve``, ``check-config`` and ``adapters`` all run :func:`check`: every configured
platform's plug-in must be installed and loadable, its ``config`` table must validate
against the plug-in's own ``config_model``, the token file must exist and parse, and a
broker without anonymous use must know at least one identity. Each problem is one line
naming the key and where it came from, so an operator can fix them all in one pass.

``NAME_file = "path"`` in a plug-in's ``config`` table is read here (the value of
``NAME`` is the file's content, stripped), unless the plug-in declares ``NAME_file``
itself; the expanded settings are what the broker then runs with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ivoa_broker.auth import TokenError, read_token_file
from ivoa_broker.config import AdapterInstance, Settings
from ivoa_broker.registry import Plugin, discover

FILE_SUFFIX = "_file"


@dataclass(frozen=True)
class Preflight:
    settings: Settings
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    settings: Settings, source: str, plugins: Mapping[str, Plugin] | None = None
) -> Preflight:
    """All problems of ``settings`` (read from ``source``), and the settings with
    ``*_file`` values read in."""
    plugins = discover() if plugins is None else plugins
    problems: list[str] = []
    adapters: dict[str, AdapterInstance] = {}
    for name, spec in settings.adapters.items():
        key = f"adapters.{name}"
        plugin = plugins.get(spec.plugin)
        if plugin is None:
            installed = ", ".join(sorted(plugins)) or "none"
            problems.append(
                f"{source}: {key}.plugin: plug-in {spec.plugin!r} is not installed "
                f"(installed: {installed})"
            )
            continue
        if plugin.adapter_class is None:
            problems.append(
                f"{source}: {key}.plugin: plug-in {spec.plugin!r} is broken: {plugin.error}"
            )
            continue
        model = plugin.adapter_class.config_model
        raw, file_problems = _read_file_values(spec.config, set(model.model_fields))
        problems += [f"{source}: {key}.config.{line}" for line in file_problems]
        try:
            model.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"])
                problems.append(
                    f"{source}: {key}.config{'.' + where if where else ''}: {error['msg']}"
                )
        adapters[name] = spec.model_copy(update={"config": raw})
    if not settings.adapters:
        problems.append(f"{source}: adapters: no platform is configured")
    identities = 0
    if settings.auth.token_file is not None:
        try:
            identities = len(read_token_file(settings.auth.token_file))
        except TokenError as exc:
            problems.append(f"{source}: auth.token_file: {exc}")
            identities = -1
    identities += len(settings.auth.oidc) if identities >= 0 else 0
    for number, oidc in enumerate(settings.auth.oidc):
        if oidc.client_secret_file is not None and not oidc.client_secret_file.is_file():
            problems.append(
                f"{source}: auth.oidc.{number}.client_secret_file: cannot read "
                f"{oidc.client_secret_file}"
            )
    if not settings.anonymous and identities == 0:
        problems.append(
            f"{source}: auth.anonymous: anonymous use is off but no identity is configured "
            "(set auth.token_file or [[auth.oidc]], or anonymous = true)"
        )
    return Preflight(replace(settings, adapters=adapters or dict(settings.adapters)), problems)


def _read_file_values(
    config: Mapping[str, Any], declared: set[str]
) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in config.items():
        if not key.endswith(FILE_SUFFIX) or key in declared:
            values[key] = value
            continue
        target = key[: -len(FILE_SUFFIX)]
        if target in config:
            problems.append(f"{key}: give {target} or {key}, not both")
            continue
        try:
            values[target] = Path(str(value)).read_text().strip()
        except OSError as exc:
            problems.append(f"{key}: cannot read {value}: {exc.strerror}")
    return values, problems
