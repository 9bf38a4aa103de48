"""Generated parts of the per-adapter documentation pages.

Each page ``docs/adapters/<plugin>.md`` has a region between
``<!-- generated:begin -->`` and ``<!-- generated:end -->`` written from the
installed plug-in itself (found through the entry point, like the broker
finds it): capabilities, the native-state -> UWS phase table from
``state_map``, and the config keys from ``config_model``. A test fails when a
page is stale; regenerate with ``python -m ivoa_broker.adapterdocs docs/adapters``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from ivoa_broker.protocol import Adapter
from ivoa_broker.registry import discover

BEGIN = "<!-- generated:begin (python -m ivoa_broker.adapterdocs docs/adapters) -->"
END = "<!-- generated:end -->"


def generated_section(cls: type[Adapter]) -> str:
    lines = [BEGIN, "", f"### Capabilities of `{cls.plugin}` (adapter API {cls.api_version})", ""]
    lines += ["| capability | value |", "|---|---|"]
    for f in fields(cls.capabilities):
        value = getattr(cls.capabilities, f.name)
        if isinstance(value, frozenset):
            value = ", ".join(sorted(value))
        lines.append(f"| `{f.name}` | {value} |")
    lines.append(f"| poll interval | {cls.poll_interval.total_seconds():g} s |")
    lines += ["", "### Native states", "", "| native state | UWS phase |", "|---|---|"]
    for native, phase in cls.state_map.items():
        lines.append(f"| `{native}` | {phase.value} |")
    lines.append("| anything else | UNKNOWN |")
    lines += ["", "### Configuration", ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    schema = cls.config_model.model_json_schema()
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        default = "required" if name in required else f"`{_short(prop.get('default'))}`"
        meaning = " ".join(str(prop.get("description", "")).split())
        lines.append(f"| `{name}` | {_type(prop)} | {default} | {meaning} |")
    lines += ["", END]
    return "\n".join(lines)


def _type(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    kind = str(prop.get("type", prop.get("$ref", "object").rsplit("/", 1)[-1]))
    return kind + (f" ({prop['format']})" if "format" in prop else "")


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def render_page(page: str, cls: type[Adapter]) -> str:
    """``page`` with its generated region replaced (appended if missing)."""
    section = generated_section(cls)
    if BEGIN in page and END in page:
        head, rest = page.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return head + section + tail
    return page.rstrip("\n") + "\n\n" + section + "\n"


def main(argv: list[str]) -> int:
    """``python -m ivoa_broker.adapterdocs [FOLDER] [--plugin NAME]...``

    Writes ``FOLDER/<name>.md`` (default ``docs/adapters``) for the named
    plug-ins only; without ``--plugin``, for every installed one (what this
    repository does for its built-in adapters). An out-of-tree plug-in runs
    ``python -m ivoa_broker.adapterdocs docs --plugin slurm``.
    """
    parser = argparse.ArgumentParser(prog="python -m ivoa_broker.adapterdocs")
    parser.add_argument("folder", nargs="?", default="docs/adapters", type=Path)
    parser.add_argument(
        "-p",
        "--plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="entry point name of a plug-in to document (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    plugins = discover()
    wanted: list[str] = args.plugin or sorted(plugins)
    missing = [name for name in wanted if name not in plugins]
    if missing:
        print(f"no such plug-in installed: {', '.join(missing)}", file=sys.stderr)
        return 2
    failed = False
    for name in wanted:
        plugin = plugins[name]
        if plugin.adapter_class is None:
            print(f"skipping {name}: {plugin.error}", file=sys.stderr)
            failed = failed or bool(args.plugin)
            continue
        path = args.folder / f"{name}.md"
        old = path.read_text() if path.exists() else f"# The `{name}` adapter\n"
        new = render_page(old, plugin.adapter_class)
        if new != old:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(new)
            print(f"wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
