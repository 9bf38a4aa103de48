"""The admission policy (``_policy.py``): a command on PATH is found again cheaply,
and never taken for present once it is gone."""

from __future__ import annotations

import os
from pathlib import Path

from ivoa_broker_local import LocalConfig
from ivoa_broker_local._policy import Policy

from ivoa_broker.protocol import ExecutionRequest


def _policy(work_dir: Path, path: Path) -> tuple[Policy, ExecutionRequest]:
    request = ExecutionRequest(
        job_id="p-1", command=("my-tool",), env={"PATH": f"{path / 'a'}:{path / 'b'}"}
    )
    return Policy(LocalConfig(sandbox="none", containers="off"), work_dir), request


def _tool(folder: Path, mode: int = 0o755) -> Path:
    folder.mkdir(exist_ok=True)
    tool = folder / "my-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(mode)
    return tool


def test_a_command_that_goes_away_is_refused_and_one_that_comes_back_is_found(
    tmp_path: Path,
) -> None:
    policy, request = _policy(tmp_path, tmp_path)
    assert "not found on PATH" in (policy.refusal(request) or "")
    tool = _tool(tmp_path / "b")
    assert policy.refusal(request) is None
    assert policy.refusal(request) is None  # the kept find, still there
    tool.unlink()
    assert "not found on PATH" in (policy.refusal(request) or "")
    _tool(tmp_path / "b")
    assert policy.refusal(request) is None


def test_a_kept_find_that_lost_its_execute_bit_or_became_a_folder_is_looked_up_again(
    tmp_path: Path,
) -> None:
    policy, request = _policy(tmp_path, tmp_path)
    tool = _tool(tmp_path / "b")
    assert policy.refusal(request) is None
    tool.chmod(0o644)
    assert "not found on PATH" in (policy.refusal(request) or "")
    _tool(tmp_path / "a")  # an executable elsewhere on PATH is found instead
    assert policy.refusal(request) is None
    os.unlink(tmp_path / "a" / "my-tool")
    (tmp_path / "a" / "my-tool").mkdir()
    assert "not found on PATH" in (policy.refusal(request) or "")
