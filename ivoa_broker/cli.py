"""Command line: ``ivoa-broker serve`` and ``ivoa-broker adapters``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ivoa_broker.config import ConfigError, Settings, load_settings
from ivoa_broker.registry import discover


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivoa-broker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the broker over HTTP")
    serve.add_argument("--config", type=Path, help="TOML config file (default: none)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--database", type=Path, help="SQLite job store (default ./broker.db)")
    serve.add_argument("--work-dir", type=Path, help="jobs' working area (default ./broker-work)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    adapters = sub.add_parser("adapters", help="list installed plug-ins and configured platforms")
    adapters.add_argument("--config", type=Path, help="TOML config file")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"ivoa-broker: {exc}", file=sys.stderr)
        return 2
    if args.command == "adapters":
        return list_adapters(settings)
    return serve_broker(settings, args)


def list_adapters(settings: Settings) -> int:
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
    return 1 if broken else 0


def serve_broker(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from ivoa_broker.app import create_app

    changes = {
        k: v
        for k, v in {
            "host": args.host,
            "port": args.port,
            "database": args.database,
            "work_dir": args.work_dir,
        }.items()
        if v is not None
    }
    settings = settings.with_server(**changes)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    print(
        f"ivoa-broker: serving on http://{settings.server.host}:{settings.server.port}/ "
        f"(store {settings.server.database}, platforms {', '.join(settings.adapters)}, "
        f"anonymous {'on' if settings.anonymous else 'off'})",
        file=sys.stderr,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
