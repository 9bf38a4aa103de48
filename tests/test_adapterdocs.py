"""The per-adapter pages' generated tables match the installed plug-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivoa_broker.adapterdocs import BEGIN, END, generated_section, render_page
from ivoa_broker.registry import discover

DOCS = Path(__file__).resolve().parent.parent / "docs" / "adapters"
BUILT_IN = (
    "local",
    "ssh",
    "canfar",
    "openstack",
    "azimuth",
    "docker",
    "executionbroker",
    "jupyterhub",
    "kubernetes",
    "slurm",
    "binderhub",
)


@pytest.mark.parametrize("name", BUILT_IN)
def test_adapter_page_is_current(name: str) -> None:
    plugin = discover()[name]
    assert plugin.adapter_class is not None, plugin.error
    page = (DOCS / f"{name}.md").read_text()
    assert BEGIN in page and END in page
    assert render_page(page, plugin.adapter_class) == page, (
        f"docs/adapters/{name}.md is stale: run python -m ivoa_broker.adapterdocs docs/adapters"
    )


def test_stale_page_is_detected() -> None:
    from tests.fakes import FakeAdapter

    page = "# x\n\n" + generated_section(FakeAdapter).replace("| `done` | COMPLETED |", "")
    assert render_page(page, FakeAdapter) != page
    assert "| `done` | COMPLETED |" in render_page(page, FakeAdapter)


def test_guide_covers_the_contract() -> None:
    guide = (DOCS / "writing.md").read_text()
    for word in (
        "offers(",
        "submit(",
        "status_many(",
        "cancel(",
        "cleanup(",
        "list_native(",
        "AdapterConformance",
        "--adapter-live",
        "ivoa_broker.adapters",
        "TransientError",
        "state_map",
        "config_model",
    ):
        assert word in guide, word


def test_only_the_named_plugin_is_written_to_the_chosen_folder(tmp_path: Path) -> None:
    from ivoa_broker.adapterdocs import main

    out = tmp_path / "pages"
    assert main([str(out), "--plugin", "ssh"]) == 0
    assert [p.name for p in out.iterdir()] == ["ssh.md"]
    assert BEGIN in (out / "ssh.md").read_text()
    assert main([str(out), "--plugin", "no-such-plugin"]) == 2
