"""Plug-in discovery through real entry points (temporary dist-info on sys.path)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from ivoa_broker.config import AdapterInstance
from ivoa_broker.protocol import AdapterDeps
from ivoa_broker.registry import ENTRY_POINT_GROUP, discover, start_instances

GOOD = """
from tests.fakes import FakeAdapter

class Good(FakeAdapter):
    plugin = "good"

class Old(FakeAdapter):
    plugin = "old"
    api_version = 0

class Misnamed(FakeAdapter):
    plugin = "something-else"
"""


def _dist(root: Path, name: str, entries: dict[str, str]) -> None:
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n")


@pytest.fixture
def plugins_on_path(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "fake_plugins.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('missing libfoo')\n")
    _dist(
        tmp_path,
        "fake-plugins",
        {
            "good": "fake_plugins:Good",
            "old": "fake_plugins:Old",
            "misnamed": "fake_plugins:Misnamed",
            "broken": "broken_plugin:Adapter",
            "twice": "fake_plugins:Good",
        },
    )
    _dist(tmp_path, "other-plugins", {"twice": "fake_plugins:Good"})
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for mod in ("fake_plugins", "broken_plugin"):
        sys.modules.pop(mod, None)


def test_discovery_reports_and_never_raises(plugins_on_path: Path) -> None:
    found = discover()
    assert found["good"].ok
    assert found["good"].distribution == "fake-plugins"
    assert "ImportError: missing libfoo" in (found["broken"].error or "")
    assert "adapter API version 0" in (found["old"].error or "")
    assert "declares plugin='something-else'" in (found["misnamed"].error or "")
    assert "several distributions" in (found["twice"].error or "")
    assert found["local"].ok  # the built-in adapter is found the same way


async def test_instances_start_or_are_reported(plugins_on_path: Path, tmp_path: Path) -> None:
    instances = {
        "g1": AdapterInstance(plugin="good"),
        "g2": AdapterInstance(plugin="good"),
        "bad-config": AdapterInstance(plugin="good", config={"nonsense": 1}),
        "b": AdapterInstance(plugin="broken"),
        "missing": AdapterInstance(plugin="nowhere"),
    }
    async with AsyncExitStack() as stack:
        adapters, problems = await start_instances(
            instances,
            discover(),
            work_dir=tmp_path / "w",
            make_deps=lambda name, d: AdapterDeps(data_dir=d),
            stack=stack,
        )
    assert sorted(adapters) == ["g1", "g2"]
    assert adapters["g1"] is not adapters["g2"]
    why = {p.instance: p.message for p in problems}
    assert "nonsense" in why["bad-config"]
    assert "missing libfoo" in why["b"]
    assert "no such plug-in is installed" in why["missing"]


def test_core_imports_no_adapter() -> None:
    """Nothing under ivoa_broker/ may import an adapter package."""
    import ast

    core = Path(__file__).resolve().parent.parent / "ivoa_broker"
    offenders = []
    for path in core.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.startswith("ivoa_broker_")]
    assert offenders == []
