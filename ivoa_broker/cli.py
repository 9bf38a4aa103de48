"""Command line: ``ivoa-broker serve``, ``check-config``, ``adapters``, ``backup``,
``doctor``, ``migrate`` and ``copy-store``.

Every command validates the whole configuration first (:mod:`ivoa_broker.preflight`):
a problem in any section, a plug-in's included, stops the command with one line per
problem and exit code 2, before anything listens.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ivoa_broker import __version__
from ivoa_broker.config import ConfigError, ConfigProblems, Settings, load_settings
from ivoa_broker.preflight import check
from ivoa_broker.registry import discover

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ivoa-broker",
        description="IVOA ExecutionBroker and UWS 1.1 service",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ivoa-broker {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the broker over HTTP")
    serve.add_argument("--config", type=Path, help="TOML config file (default: none)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--database", type=Path, help="SQLite job store (default ./broker.db)")
    serve.add_argument("--work-dir", type=Path, help="jobs' working area (default ./broker-work)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.add_argument(
        "--forwarded-allow-ips",
        help="comma-separated addresses of trusted reverse proxies whose X-Forwarded-* "
        "headers are believed (default: none; '*' trusts every peer)",
    )
    serve.add_argument(
        "--http",
        choices=["auto", "h11", "httptools"],
        help="uvicorn's HTTP/1.1 protocol (default: server.http, 'auto' = httptools "
        "when installed, else h11; the same limits apply to both)",
    )
    serve.add_argument(
        "--root-path",
        help="path prefix under which a prefix-stripping reverse proxy serves the broker",
    )
    checker = sub.add_parser(
        "check-config", help="validate a config file (every plug-in's section included)"
    )
    checker.add_argument("config", type=Path, nargs="?", help="TOML config file")
    saver = sub.add_parser(
        "backup", help="online backup of the SQLite job store (safe while serving)"
    )
    saver.add_argument("destination", type=Path, help="file to write the copy to")
    saver.add_argument("--config", type=Path, help="TOML config file (for server.database)")
    saver.add_argument("--database", type=Path, help="SQLite job store (default ./broker.db)")
    migrator = sub.add_parser(
        "migrate", help="bring the job store's schema up to date (also done at start-up)"
    )
    migrator.add_argument("--config", type=Path, help="TOML config file (for [store])")
    migrator.add_argument("--store", help="store URL or SQLite path (default: from the config)")
    copier = sub.add_parser(
        "copy-store",
        help="copy every job and offer into another, empty store",
        description="Copy jobs (with their launch intents and Handles), results, offer "
        "sets and offers into another, empty store; stop the broker serving the source "
        "first. Leases are not copied: they are runtime state (which running replica "
        "does the once-only work, for a few seconds), meaningless to the brokers that "
        "will serve the target; the first of them to start takes the lease.",
    )
    copier.add_argument("--config", type=Path, help="TOML config file (not needed)")
    copier.add_argument("--from", dest="source", required=True, help="sqlite:///a.db or a URL")
    copier.add_argument("--to", dest="target", required=True, help="postgresql://... (empty)")
    doctor = sub.add_parser(
        "doctor", help="report what in the job store needs a look (stale PENDING jobs)"
    )
    doctor.add_argument("--config", type=Path, help="TOML config file (for server.database)")
    doctor.add_argument("--database", type=Path, help="SQLite job store (default ./broker.db)")
    doctor.add_argument(
        "--pending-age",
        type=float,
        default=3600.0,
        help="report PENDING jobs created longer ago than this, seconds (default 3600)",
    )
    adapters = sub.add_parser("adapters", help="list installed plug-ins and configured platforms")
    adapters.add_argument("--config", type=Path, help="TOML config file")
    args = parser.parse_args(argv)
    source = str(args.config) if args.config is not None else "defaults"
    try:
        settings = load_settings(args.config)
    except ConfigProblems as exc:
        for line in exc.lines:
            print(f"ivoa-broker: {line}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:
        print(f"ivoa-broker: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "adapters":
        return list_adapters(settings, source)
    if args.command == "doctor":
        return doctor_report(args.database or settings.server.database, args.pending_age)
    if args.command == "backup":
        database = args.database or settings.store_location
        if not isinstance(database, Path):
            print("ivoa-broker: backup copies a SQLite store; for PostgreSQL use pg_dump",
                  file=sys.stderr)  # fmt: skip
            return 1
        return backup_store(database, args.destination)
    if args.command == "migrate":
        return migrate_store(args.store or settings.store_location)
    if args.command == "copy-store":
        return copy_store(args.source, args.target)
    if args.command == "serve":
        settings = settings.with_server(**_server_overrides(args))
    preflight = check(settings, source)
    for line in preflight.problems:
        print(f"ivoa-broker: {line}", file=sys.stderr)
    if not preflight.ok:
        return EXIT_CONFIG
    if args.command == "check-config":
        print(
            f"ivoa-broker: {source}: ok ({len(preflight.settings.adapters)} platform(s): "
            f"{', '.join(preflight.settings.adapters)})"
        )
        return 0
    return serve_broker(preflight.settings, args)


def _server_overrides(args: argparse.Namespace) -> dict[str, object]:
    values = {
        "host": args.host,
        "port": args.port,
        "database": args.database,
        "work_dir": args.work_dir,
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "root_path": args.root_path,
        "http": args.http,
    }
    return {k: v for k, v in values.items() if v is not None}


def backup_store(database: Path, destination: Path) -> int:
    from ivoa_broker.backup import BackupError, backup

    try:
        jobs = backup(database, destination)
    except BackupError as exc:
        print(f"ivoa-broker: {exc}", file=sys.stderr)
        return 1
    print(f"ivoa-broker: {database} -> {destination} ({jobs} jobs)")
    return 0


def migrate_store(where: Path | str) -> int:
    import asyncio

    from ivoa_broker.store import StoreError, open_database
    from ivoa_broker.store.migrations import LATEST, migrate

    async def run() -> list[int]:
        db = await open_database(where)
        try:
            return await migrate(db)
        finally:
            await db.close()

    try:
        applied = asyncio.run(run())
    except (StoreError, OSError) as exc:
        print(f"ivoa-broker: {exc}", file=sys.stderr)
        return 1
    done = ", ".join(map(str, applied)) if applied else "none (up to date)"
    print(f"ivoa-broker: schema version {LATEST}; migrations applied: {done}")
    return 0


def copy_store(source: str, target: str) -> int:
    import asyncio

    from ivoa_broker.store import StoreError
    from ivoa_broker.store.copy import copy_store as copy

    try:
        counts = asyncio.run(copy(source, target))
    except (StoreError, OSError) as exc:
        print(f"ivoa-broker: {exc}", file=sys.stderr)
        return 1
    print("ivoa-broker: copied " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    return 0


def doctor_report(database: Path, pending_age: float) -> int:
    from ivoa_broker.doctor import DoctorError, report

    try:
        code, lines = report(database, pending_age)
    except DoctorError as exc:
        print(f"ivoa-broker: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return code


def list_adapters(settings: Settings, source: str) -> int:
    plugins = discover()
    print("plug-ins (entry point group ivoa_broker.adapters):")
    if not plugins:
        print("  none installed")
    for plugin in plugins.values():
        state = "ok" if plugin.ok else f"BROKEN: {plugin.error}"
        print(f"  {plugin.name:12} {plugin.target}  [{plugin.distribution}]  {state}")
    print("platforms (adapter instances):")
    broken = False
    for name, spec in settings.adapters.items():
        found = plugins.get(spec.plugin)
        state = "ok" if found and found.ok else "unavailable: plug-in missing or broken"
        broken |= state != "ok"
        print(f"  {name:12} plug-in {spec.plugin}  {state}")
    preflight = check(settings, source, plugins)
    for line in preflight.problems:
        print(f"  problem: {line}")
    return 1 if broken or not preflight.ok else 0


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def event_loop() -> str:
    """uvicorn's event loop: uvloop (a declared dependency), asyncio without it."""
    return "uvloop" if _importable("uvloop") else "asyncio"


def serve_broker(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from ivoa_broker.app import create_app
    from ivoa_broker.logs import configure, uvicorn_log_config
    from ivoa_broker.web.connections import bounded_protocol, chosen_http

    server = settings.server
    try:
        http = chosen_http(server.http)
    except RuntimeError as exc:
        print(f"ivoa-broker: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure(args.log_level, server.log_format)
    logging.getLogger("ivoa_broker").info(
        "serving",
        extra={
            "url": f"http://{server.host}:{server.port}{server.root_path}/",
            "store": _shown(settings.store_location),
            "platforms": ",".join(settings.adapters),
            "anonymous": settings.anonymous,
            "version": __version__,
            "http": http,
            "loop": event_loop(),
        },
    )
    uvicorn.run(
        create_app(settings, freeze_startup=True),
        host=server.host,
        port=server.port,
        log_level=args.log_level,
        log_config=uvicorn_log_config(args.log_level, server.log_format),
        # forwarding headers are applied by the app itself, only from trusted proxies
        proxy_headers=False,
        loop=event_loop(),
        timeout_keep_alive=int(server.timeout_keep_alive),
        # either protocol with the same limits (ivoa_broker.web.connections): a deadline
        # for each request head, 431 past max_header_bytes (h11 enforces that size
        # itself from h11_max_incomplete_event_size; httptools' class counts)
        http=bounded_protocol(server.timeout_request_head, server.max_header_bytes, http),
        h11_max_incomplete_event_size=server.max_header_bytes,
        limit_concurrency=server.limit_concurrency,
        timeout_graceful_shutdown=5,
    )
    return 0


def _shown(where: Path | str) -> str:
    if isinstance(where, Path):
        return str(where)
    from ivoa_broker.store.db import redacted

    return redacted(where)


if __name__ == "__main__":
    raise SystemExit(main())
