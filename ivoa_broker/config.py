"""Broker settings: a TOML file, or defaults that serve the local adapter.

```toml
[server]
host = "127.0.0.1"
port = 8080
public_url = "https://broker.example.org"   # optional; else taken from each request
database = "broker.db"                       # relative to the working directory
work_dir = "broker-work"                     # adapters' data directories live here
broker_id = "node-a"                         # optional; id in federation hop lists

[auth]
anonymous = true            # default: true when serving on loopback, else false
token_file = "tokens.txt"   # lines "TOKEN OWNER"; '#' starts a comment

[jobs]
default_execution_duration = 3600   # seconds; 0 = unlimited
max_execution_duration = 604800
default_destruction = 604800        # seconds after creation
max_destruction = 2592000
wait_cap = 30                       # longest a WAIT blocks, seconds
list_limit = 1000                   # most jobrefs in one job list
destruction = "archive"             # or "delete"
offer_deadline = 5.0                # seconds an adapter has to answer offers()
offer_ttl = 300                     # seconds an ExecutionBroker offer stays OFFERED

[adapters.local]                    # one table per adapter instance
plugin = "local"
[adapters.local.config]             # validated by the plug-in's config_model
max_jobs = 8
```
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


class ServerSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    database: Path = Path("broker.db")
    work_dir: Path = Path("broker-work")
    #: this broker's id in federation hop lists (default: derived, see ivoa_broker.hops)
    broker_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")


class AuthSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    anonymous: bool | None = None
    token_file: Path | None = None


class JobsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_execution_duration: int = Field(default=3600, ge=0)
    max_execution_duration: int = Field(default=7 * 86400, ge=0)
    default_destruction: int = Field(default=7 * 86400, gt=0)
    max_destruction: int = Field(default=30 * 86400, gt=0)
    wait_cap: float = Field(default=30.0, gt=0, le=300)
    list_limit: int = Field(default=1000, gt=0)
    destruction: Literal["archive", "delete"] = "archive"
    offer_deadline: float = Field(default=5.0, gt=0)
    offer_ttl: float = Field(default=300.0, gt=0, le=86400)
    unknown_threshold: int = Field(default=10, gt=0)


class AdapterInstance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plugin: str
    #: raw settings for the plug-in's config_model; may hold platform secrets, so
    #: never shown in reprs (the plug-in's model wraps them in SecretStr)
    config: dict[str, Any] = Field(default_factory=dict, repr=False)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server: ServerSection = Field(default_factory=ServerSection)
    auth: AuthSection = Field(default_factory=AuthSection)
    jobs: JobsSection = Field(default_factory=JobsSection)
    adapters: dict[str, AdapterInstance] = Field(default_factory=dict)


DEFAULT_ADAPTERS: Mapping[str, AdapterInstance] = {"local": AdapterInstance(plugin="local")}


@dataclass(frozen=True)
class Settings:
    server: ServerSection = field(default_factory=ServerSection)
    auth: AuthSection = field(default_factory=AuthSection)
    jobs: JobsSection = field(default_factory=JobsSection)
    adapters: Mapping[str, AdapterInstance] = field(default_factory=lambda: dict(DEFAULT_ADAPTERS))

    @property
    def anonymous(self) -> bool:
        """Anonymous use: as configured, else only when serving on loopback."""
        if self.auth.anonymous is not None:
            return self.auth.anonymous
        return _is_loopback(self.server.host)

    def with_server(self, **changes: Any) -> Settings:
        return replace(self, server=self.server.model_copy(update=changes))


def load_settings(path: Path | None) -> Settings:
    """Read a TOML config file; ``None`` gives the defaults. Relative paths in
    the file are taken relative to the file's directory."""
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"config {path}: {problems}") from None
    base = path.parent
    server = parsed.server.model_copy(
        update={
            "database": _relative_to(base, parsed.server.database),
            "work_dir": _relative_to(base, parsed.server.work_dir),
        }
    )
    auth = parsed.auth
    if auth.token_file is not None:
        auth = auth.model_copy(update={"token_file": _relative_to(base, auth.token_file)})
    adapters = parsed.adapters or dict(DEFAULT_ADAPTERS)
    return Settings(server=server, auth=auth, jobs=parsed.jobs, adapters=adapters)


def _relative_to(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
