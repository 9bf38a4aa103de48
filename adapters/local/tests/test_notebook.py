"""Notebook jobs on the local platform: executed for real by nbclient on a local kernel."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path

import pytest
from ivoa_broker_local import LocalAdapter
from ivoa_broker_local._nbrun import read_location
from ivoa_broker_local._notebook import as_batch, is_notebook, notebook_problem

from ivoa_broker.protocol import CallContext, ExecutionRequest, Phase

from .conftest import HANG_GUARD_SECONDS, Wakes, run_to_end, submit


def notebook_url(*sources: str) -> str:
    """A data: URL holding a notebook with one code cell per source."""
    cells = [
        {
            "cell_type": "code",
            "id": f"c{i}",
            "metadata": {},
            "source": src,
            "outputs": [],
            "execution_count": None,
        }
        for i, src in enumerate(sources)
    ]
    doc = {
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# test"},
            *cells,
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    payload = base64.b64encode(json.dumps(doc).encode()).decode()
    return f"data:application/x-ipynb+json;base64,{payload}"


def test_a_notebook_request_becomes_the_runner_command() -> None:
    request = ExecutionRequest(job_id="n", kind="interactive", notebook="https://x.org/a.ipynb")
    assert is_notebook(request)
    batch = as_batch(request, "/usr/bin/python3")
    assert batch.kind == "batch" and batch.notebook is None
    assert batch.command == (
        "/usr/bin/python3",
        "-m",
        "ivoa_broker_local._nbrun",
        "https://x.org/a.ipynb",
    )
    assert not is_notebook(ExecutionRequest(job_id="c", command=("true",), notebook="x"))


@pytest.mark.parametrize("location", ["ftp://x.org/a.ipynb", "a.ipynb", "/etc/passwd"])
def test_other_locations_are_refused_with_the_reason(location: str) -> None:
    problem = notebook_problem(ExecutionRequest(job_id="n", notebook=location))
    assert problem is not None and "http(s):// or data:" in problem


def test_data_urls_are_read_base64_or_percent_encoded() -> None:
    assert read_location("data:,%7B%7D") == (b"{}", "notebook.ipynb")
    assert read_location("data:;base64,e30=") == (b"{}", "notebook.ipynb")
    with pytest.raises(ValueError, match="cannot read"):
        read_location("file:///etc/passwd")


async def test_notebook_runs_and_its_outputs_are_results(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    url = notebook_url("print(6 * 7)", "open('table.csv', 'w').write('1,2\\n')")
    request = ExecutionRequest(job_id="nb-ok", kind="interactive", notebook=url)
    (offer,) = await adapter.offers(request, ctx)
    assert "notebook" in offer.summary
    handle, status = await run_to_end(adapter, wakes, request, ctx)
    assert status.phase is Phase.COMPLETED, status.message
    refs = {ref.id: ref for ref in await adapter.results(handle, ctx)}
    assert {"notebook.ipynb", "table.csv"} <= set(refs)
    assert refs["table.csv"].path is not None
    assert refs["table.csv"].path.read_text() == "1,2\n"
    executed_file = Path(str(refs["notebook.ipynb"].path))
    executed = json.loads(await asyncio.to_thread(executed_file.read_text))
    outputs = [c["outputs"] for c in executed["cells"] if c["cell_type"] == "code"]
    assert "".join(outputs[0][0]["text"]) == "42\n"
    assert refs["notebook.ipynb"].mime_type == "application/x-ipynb+json"


async def test_a_failing_cell_is_an_error_naming_the_cell(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    url = notebook_url("x = 1", "x / 0", "print('never')")
    request = ExecutionRequest(job_id="nb-bad", kind="interactive", notebook=url)
    handle, status = await run_to_end(adapter, wakes, request, ctx)
    assert status.phase is Phase.ERROR
    assert status.message is not None
    assert "cell 3 failed: ZeroDivisionError" in status.message  # cell 1 is markdown
    refs = {ref.id for ref in await adapter.results(handle, ctx)}
    assert "notebook.ipynb" in refs  # the partly executed notebook comes back too


async def test_progress_names_the_running_cell(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    wait = f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)"
    request = ExecutionRequest(
        job_id="nb-progress", kind="interactive", notebook=notebook_url("y = 2", wait)
    )
    handle = await submit(adapter, request, ctx)
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        while True:  # the runner writes its progress file as each cell starts
            status = (await adapter.status_many([handle], ctx))[handle.native_id]
            assert status.phase in (Phase.EXECUTING, Phase.QUEUED), status.message
            if status.progress is not None and "cell 3 of 3" in status.progress.message:
                break
            await asyncio.sleep(0.1)
    assert status.progress.fraction == pytest.approx(0.5)
    assert status.progress.message == "cell 3 of 3: import os, time"  # its first line
    gate.touch()
    await wakes.wait_for(handle.native_id)
    final = (await adapter.status_many([handle], ctx))[handle.native_id]
    assert final.phase is Phase.COMPLETED
    assert final.progress is None  # only a running job reports progress


def test_the_kernel_is_this_interpreter() -> None:
    assert notebook_problem(ExecutionRequest(job_id="n", notebook="data:,{}")) is None
    assert sys.executable
