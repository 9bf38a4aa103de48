"""Fail-fast configuration: every problem stops ``serve`` before it listens (exit 2),
one line per problem naming the key and the file; ``check-config`` validates without
serving; ``adapters`` fails for a platform that cannot load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivoa_broker.config import ConfigProblems, load_settings
from ivoa_broker.preflight import check
from tests.server import free_port


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivoa_broker.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broker.toml"
    path.write_text(text)
    return path


BAD = """
[server]
prot = 8080
[jobs]
wait_cap = "soon"
"""


def test_unknown_key_and_wrong_type_are_both_named(tmp_path: Path) -> None:
    path = _write(tmp_path, BAD)
    with pytest.raises(ConfigProblems) as caught:
        load_settings(path)
    lines = caught.value.lines
    assert len(lines) == 2
    assert any(f"{path}: server.prot" in line for line in lines)
    assert any(f"{path}: jobs.wait_cap" in line for line in lines)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            '[adapters.a]\nplugin = "no-such-plugin"\n',
            "adapters.a.plugin: plug-in 'no-such-plugin'",
        ),
        (
            '[adapters.a]\nplugin = "local"\n[adapters.a.config]\nmax_jobz = 3\n',
            "adapters.a.config.max_jobz",
        ),
        (
            '[adapters.a]\nplugin = "local"\n[adapters.a.config]\nmax_jobs = "many"\n',
            "adapters.a.config.max_jobs",
        ),
        ('[auth]\ntoken_file = "missing.txt"\n', "auth.token_file: cannot read token file"),
        ("[auth]\nanonymous = false\n", "auth.anonymous: anonymous use is off but no identity"),
    ],
)
def test_serve_stops_before_listening(tmp_path: Path, table: str, expected: str) -> None:
    path = _write(tmp_path, table)
    port = free_port()
    done = _cli("serve", "--config", str(path), "--port", str(port), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert str(path) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "broker.db").exists(), "nothing may be created before the check"
    checked = _cli("check-config", str(path), cwd=tmp_path)
    assert checked.returncode == 2
    assert expected in checked.stderr


def test_every_problem_is_one_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[auth]\ntoken_file = "missing.txt"\n'
        '[adapters.a]\nplugin = "nope"\n'
        '[adapters.b]\nplugin = "local"\n[adapters.b.config]\nbogus = 1\n',
    )
    done = _cli("check-config", str(path), cwd=tmp_path)
    assert done.returncode == 2
    problems = [line for line in done.stderr.splitlines() if line.startswith("ivoa-broker:")]
    assert len(problems) == 3, done.stderr


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    (tmp_path / "tokens.txt").write_text("0123456789abcdef0123 alice\n")
    path = _write(
        tmp_path,
        '[auth]\nanonymous = false\ntoken_file = "tokens.txt"\n'
        '[adapters.small]\nplugin = "local"\n[adapters.small.config]\nmax_jobs = 2\n',
    )
    done = _cli("check-config", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout and "small" in done.stdout


def test_adapters_command_fails_for_a_platform_that_cannot_load(tmp_path: Path) -> None:
    path = _write(tmp_path, '[adapters.a]\nplugin = "local"\n[adapters.a.config]\nmax_jobs = -5\n')
    done = _cli("adapters", "--config", str(path), cwd=tmp_path)
    assert done.returncode != 0
    assert "adapters.a.config.max_jobs" in done.stdout


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "[server]\nport = 8080\n")
    monkeypatch.setenv("IVOA_BROKER__SERVER__PORT", "9123")
    monkeypatch.setenv("IVOA_BROKER__JOBS__WAIT_CAP", "7")
    settings = load_settings(path)
    assert settings.server.port == 9123
    assert settings.jobs.wait_cap == 7


def test_environment_typo_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVOA_BROKER__SERVER__PROT", "1")
    with pytest.raises(ConfigProblems) as caught:
        load_settings(None)
    assert "IVOA_BROKER__SERVER__PROT" in caught.value.lines[0]


def test_a_secret_value_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "max.txt"
    secret.write_text("3\n")
    path = _write(
        tmp_path,
        f'[adapters.a]\nplugin = "local"\n[adapters.a.config]\nmax_jobs_file = "{secret}"\n',
    )
    result = check(load_settings(path), str(path))
    assert result.ok, result.problems
    assert result.settings.adapters["a"].config == {"max_jobs": "3"}
    missing = _write(
        tmp_path, '[adapters.a]\nplugin = "local"\n[adapters.a.config]\nmax_jobs_file = "nope"\n'
    )
    result = check(load_settings(missing), "x.toml")
    assert any("max_jobs_file: cannot read nope" in p for p in result.problems)


def test_public_url_must_be_absolute(tmp_path: Path) -> None:
    path = _write(tmp_path, '[server]\npublic_url = "broker.example.org/"\n')
    with pytest.raises(ConfigProblems) as caught:
        load_settings(path)
    assert "server.public_url" in caught.value.lines[0]
    assert "absolute" in caught.value.lines[0]


def test_version() -> None:
    from ivoa_broker import __version__

    done = _cli("--version", cwd=Path.cwd())
    assert done.returncode == 0
    assert __version__ in done.stdout
