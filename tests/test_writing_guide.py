"""docs/adapters/writing.md is true: its toy plug-in, built from the guide's own code,
passes the registry's contract check and runs a job through the real dispatcher."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ivoa_broker.protocol import API_VERSION, OPTIONAL_METHODS, REQUIRED_METHODS, Phase
from ivoa_broker.records import Parameter
from ivoa_broker.registry import check_adapter_class
from tests.rig import make_rig

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "adapters" / "writing.md"


def toy_module(tmp_path: Path) -> ModuleType:
    text = GUIDE.read_text()
    found = re.search(r"<!-- toy-plugin -->\n```python\n(.*?)```", text, re.S)
    assert found, "the guide lost its toy plug-in"
    path = tmp_path / "toy_plugin.py"
    path.write_text(found.group(1))
    spec = importlib.util.spec_from_file_location("toy_plugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_plugin"] = module
    spec.loader.exec_module(module)
    return module


def test_the_guides_toy_plugin_passes_the_contract_check(tmp_path: Path) -> None:
    toy = toy_module(tmp_path)
    assert check_adapter_class("toy", toy.ToyAdapter) is None
    assert toy.ToyAdapter.api_version == API_VERSION


async def test_the_guides_toy_plugin_runs_a_job(tmp_path: Path) -> None:
    toy = toy_module(tmp_path)
    adapter = toy.ToyAdapter("toy", toy.ToyConfig(max_cores=2), None)
    async with adapter:
        assert adapter.capabilities.max_cores == 2
        rig = await make_rig(tmp_path, [adapter])  # type: ignore[list-item]
        try:
            job = await rig.jobs.create(
                None, [Parameter("cmd", "echo"), Parameter("cores", "2")], run=True
            )
            await rig.dispatcher.launched(job.job_id)
            await rig.dispatcher.poll("toy")
            await rig.dispatcher.poll("toy")
            await rig.settle(job.job_id, Phase.COMPLETED)
            big = await rig.jobs.create(None, [Parameter("cmd", "x"), Parameter("cores", "3")])
            await rig.jobs.run(big.job_id, None)
            failed = await rig.settle(big.job_id, Phase.ERROR)
            assert failed.error is not None
            assert "at most 2 cores" in failed.error.message
        finally:
            await rig.close()


def test_the_guide_names_every_method_of_the_contract() -> None:
    text = GUIDE.read_text()
    for method in (*REQUIRED_METHODS, *OPTIONAL_METHODS):
        assert f"`{method}" in text, method
    assert "`API_VERSION = 2`" in text
    table = text[text.index("| error | when |") :].split("\n\n")[0]
    conflict = next(line for line in table.splitlines() if line.startswith("| `Conflict`"))
    assert "not** treat it as success" in conflict


@pytest.fixture(autouse=True)
def _forget_toy() -> object:
    yield
    sys.modules.pop("toy_plugin", None)
