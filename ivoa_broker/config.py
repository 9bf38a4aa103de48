"""Broker settings: a TOML file, or defaults that serve the local adapter.

```toml
[server]
host = "127.0.0.1"
port = 8080
public_url = "https://broker.example.org"   # optional; else taken from each request
database = "broker.db"                       # relative to the working directory
work_dir = "broker-work"                     # adapters' data directories live here
broker_id = "node-a"                         # optional; id in federation hop lists

[store]                     # optional; default: the SQLite file server.database
url = "postgresql://broker@db.example.org/broker"   # or "sqlite:///broker.db"
cache_size = 2048           # job records cached per process
pool_size = 10              # PostgreSQL connections per process

[auth]                      # identity, admins, limits: see ivoa_broker/auth/settings.py
anonymous = true            # default: true when serving on loopback, else false
token_file = "tokens.txt"   # lines "TOKEN OWNER [GROUP,...]"; '#' starts a comment

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
allow_groups = ["astro"]            # optional access policy (ivoa_broker/auth/policy.py)
[adapters.local.config]             # validated by the plug-in's config_model
max_jobs = 8
```

Every key can also be set by an environment variable ``IVOA_BROKER__SECTION__KEY``
(``IVOA_BROKER__SERVER__PORT=9000``, ``IVOA_BROKER__ADAPTERS__LOCAL__CONFIG__MAX_JOBS=4``);
the environment wins over the file. In a plug-in's ``config`` table, ``NAME_file = "path"``
reads the value of ``NAME`` from that file (for secrets), unless the plug-in itself declares
a ``NAME_file`` key.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ivoa_broker.auth.settings import AccessSection, AuthSection

ENV_PREFIX = "IVOA_BROKER__"


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


class ServerSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: the broker's URL as clients see it (behind a proxy); absolute http(s) URL
    public_url: str | None = None
    database: Path = Path("broker.db")
    work_dir: Path = Path("broker-work")
    #: trusted reverse proxies (comma-separated addresses or networks, '*' = any): their
    #: X-Forwarded-For/-Proto/-Host/-Prefix headers are believed
    forwarded_allow_ips: str | None = None
    #: path prefix a prefix-stripping proxy serves the broker under ("/broker")
    root_path: str = ""
    #: log lines as "json" (one object a line) or "keyvalue" (key=value pairs)
    log_format: Literal["json", "keyvalue"] = "keyvalue"
    #: origins allowed to call the broker from a browser (CORS); none by default
    cors_origins: list[str] = Field(default_factory=list)
    #: serve Prometheus metrics on this separate port as well (None: /metrics only)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    #: uvicorn's HTTP/1.1 protocol: "httptools" (C parser), "h11" (pure Python) or
    #: "auto" (httptools when installed); the limits below apply to both
    http: Literal["auto", "h11", "httptools"] = "auto"
    #: HTTP keep-alive and slow-client limits, seconds
    timeout_keep_alive: float = Field(default=5.0, gt=0)
    #: a request's line and headers must arrive within this many seconds of its first
    #: byte (or of the connection's start); then the connection is closed
    timeout_request_head: float = Field(default=10.0, gt=0)
    #: a request body whose next chunk takes longer than this ends with 408
    timeout_body: float = Field(default=30.0, gt=0)
    #: largest request head (request line + headers), bytes; larger ones get 431
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    #: open connections + running requests beyond which uvicorn answers 503 (None: no cap)
    limit_concurrency: int | None = Field(default=None, ge=1)
    #: this broker's id in federation hop lists (default: derived, see ivoa_broker.hops)
    broker_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"must be an absolute http(s) URL such as https://broker.example.org/, "
                f"not {value!r}"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("root_path")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith("/"):
            raise ValueError(f"must start with '/' (got {value!r})")
        return value.rstrip("/")


class StoreSection(BaseModel):
    """Where jobs and offers are kept. Without ``url``: the SQLite file
    ``server.database`` (one process). ``sqlite:///relative.db`` and
    ``sqlite:////absolute.db`` name a SQLite file; ``postgresql://user@host/db``
    a PostgreSQL database, which several broker replicas may share (the password,
    if in the URL, is kept secret; libpq's PGPASSWORD or ~/.pgpass also work)."""

    model_config = ConfigDict(extra="forbid")
    url: SecretStr | None = None
    cache_size: int = Field(default=2048, ge=0)
    pool_size: int = Field(default=10, ge=2, le=500)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        scheme = value.get_secret_value().split(":", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"must be a sqlite:/// or postgresql:// URL, not a {scheme!r} one")
        return value


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
    #: core-side input staging (``ivoa_broker.staging``): all inputs of one job
    #: together, and the time allowed for each
    input_max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    input_timeout: float = Field(default=60.0, gt=0)


class AdapterInstance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plugin: str
    #: raw settings for the plug-in's config_model; may hold platform secrets, so
    #: never shown in reprs (the plug-in's model wraps them in SecretStr)
    config: dict[str, Any] = Field(default_factory=dict, repr=False)
    #: access policy (ivoa_broker.auth.policy): only these groups (None: everybody),
    #: these owners besides, never these owners or groups
    allow_groups: list[str] | None = None
    allow_owners: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)

    def access(self) -> AccessSection:
        return AccessSection(
            allow_groups=self.allow_groups, allow_owners=self.allow_owners, deny=self.deny
        )


class _File(BaseSettings):
    """The file's tables, with ``IVOA_BROKER__SECTION__KEY`` environment overrides."""

    model_config = SettingsConfigDict(
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )
    server: ServerSection = Field(default_factory=ServerSection)
    store: StoreSection = Field(default_factory=StoreSection)
    auth: AuthSection = Field(default_factory=AuthSection)
    jobs: JobsSection = Field(default_factory=JobsSection)
    adapters: dict[str, AdapterInstance] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


DEFAULT_ADAPTERS: Mapping[str, AdapterInstance] = {"local": AdapterInstance(plugin="local")}


@dataclass(frozen=True)
class Settings:
    server: ServerSection = field(default_factory=ServerSection)
    store: StoreSection = field(default_factory=StoreSection)
    auth: AuthSection = field(default_factory=AuthSection)
    jobs: JobsSection = field(default_factory=JobsSection)
    adapters: Mapping[str, AdapterInstance] = field(default_factory=lambda: dict(DEFAULT_ADAPTERS))

    @property
    def anonymous(self) -> bool:
        """Anonymous use: as configured, else only when serving on loopback."""
        if self.auth.anonymous is not None:
            return self.auth.anonymous
        return _is_loopback(self.server.host)

    @property
    def store_location(self) -> Path | str:
        """The store to open: a SQLite file path, or a PostgreSQL URL (secret)."""
        if self.store.url is None:
            return self.server.database
        url = self.store.url.get_secret_value()
        if url.startswith("sqlite:"):
            from ivoa_broker.store.sql import sqlite_path

            return sqlite_path(url)
        return url

    def with_server(self, **changes: Any) -> Settings:
        return replace(self, server=self.server.model_copy(update=changes))


class ConfigProblems(ConfigError):
    """Several problems, one line each, every line naming the key and its source."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_settings(path: Path | None) -> Settings:
    """Read a TOML config file (``None``: no file) and the ``IVOA_BROKER__*`` environment.
    Relative paths in the file are taken relative to the file's directory."""
    data: dict[str, Any] = {}
    source = "environment"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    try:
        parsed = _File(**data)
    except ValidationError as exc:
        raise ConfigProblems(
            [
                f"{source}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}{_env_hint(e['loc'])}"
                for e in exc.errors()
            ]
        ) from None
    if path is None and not _env_overrides():
        return Settings()
    base = path.parent if path is not None else Path.cwd()
    server = parsed.server.model_copy(
        update={
            "database": _relative_to(base, parsed.server.database),
            "work_dir": _relative_to(base, parsed.server.work_dir),
        }
    )
    auth = parsed.auth
    if auth.token_file is not None:
        auth = auth.model_copy(update={"token_file": _relative_to(base, auth.token_file)})
    if any(o.client_secret_file is not None for o in auth.oidc):
        oidc = [
            o.model_copy(update={"client_secret_file": _relative_to(base, o.client_secret_file)})
            if o.client_secret_file is not None
            else o
            for o in auth.oidc
        ]
        auth = auth.model_copy(update={"oidc": oidc})
    adapters = parsed.adapters or dict(DEFAULT_ADAPTERS)
    store = parsed.store
    url = store.url.get_secret_value() if store.url is not None else ""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = _relative_to(base, Path(url.removeprefix("sqlite:///")))
        store = store.model_copy(update={"url": SecretStr(f"sqlite:///{relative}")})
    return Settings(server=server, store=store, auth=auth, jobs=parsed.jobs, adapters=adapters)


def _env_overrides() -> list[str]:
    import os

    return [k for k in os.environ if k.upper().startswith(ENV_PREFIX)]


def _env_hint(loc: tuple[int | str, ...]) -> str:
    name = ENV_PREFIX + "__".join(str(p).upper() for p in loc)
    import os

    return f" (set by {name})" if any(k.upper() == name for k in os.environ) else ""


def _relative_to(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
