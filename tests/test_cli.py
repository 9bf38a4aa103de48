from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivoa_broker.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_adapters_lists_plugins_and_platforms() -> None:
    out = run("adapters")
    assert out.returncode == 0, out.stderr
    assert "local" in out.stdout
    assert "ivoa_broker_local:LocalAdapter" in out.stdout
    assert "platforms (adapter instances):" in out.stdout


def test_adapters_reports_missing_plugin(tmp_path: Path) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text('[adapters.x]\nplugin = "nope"\n')
    out = run("adapters", "--config", str(cfg))
    assert out.returncode == 1
    assert "x" in out.stdout
    assert "unavailable" in out.stdout


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text("[jobs]\nwait_cap = -3\n")
    out = run("serve", "--config", str(cfg))
    assert out.returncode == 2
    assert "jobs.wait_cap" in out.stderr
    cfg.write_text("[jobs\n")
    out = run("serve", "--config", str(cfg))
    assert out.returncode == 2
    assert "not valid TOML" in out.stderr
    out = run("serve", "--config", str(tmp_path / "missing.toml"))
    assert out.returncode == 2
    assert "cannot read config" in out.stderr
