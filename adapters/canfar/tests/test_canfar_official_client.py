"""The skaha emulator as the official CANFAR client sees it.

The client (PyPI ``canfar`` 1.5.x, which targets skaha v1) lives in its own
virtualenv, as a user installs it: ``$IVOA_BROKER_CANFAR_CLIENT`` (a venv
folder), else the one ``.ci/install.d/60-canfar-client.sh`` makes in
``/opt/ivoa-broker/canfar-client``, else one made here from PyPI for this run.
``typer<0.29`` is pinned there because ``canfar create`` 1.5.2 imports
``typer._click.types``, which typer 0.29 removed.

Library scenarios run in ``canfar_client_driver.py`` under the client's
python with ``errors="raise"``: any HTTP error the client sees fails the test.
The CLI runs with ``CANFAR_TOKEN``/``CANFAR_URL`` (its runtime credentials) and
a per-test ``HOME``; its output must name no failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import venv
from collections.abc import Callable
from pathlib import Path

import pytest
from ivoa_broker_canfar.emulator import EmulatorServer, SkahaEmulator
from ivoa_broker_canfar.testpki import TestPKI

CLIENT_REQUIREMENTS = ("canfar>=1.5,<1.6", "typer<0.29")
CI_VENV = Path("/opt/ivoa-broker/canfar-client")
DRIVER = Path(__file__).with_name("canfar_client_driver.py")


def _usable(folder: Path) -> bool:
    python = folder / "bin" / "python"
    if not python.exists():
        return False
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import canfar, sys; sys.exit(not canfar.__version__.startswith('1.5'))",
        ],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.fixture(scope="session")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the official ``canfar`` client (see the module docstring)."""
    configured = os.environ.get("IVOA_BROKER_CANFAR_CLIENT")
    for folder in (Path(configured) if configured else None, CI_VENV):
        if folder is not None and _usable(folder):
            return folder
    folder = tmp_path_factory.mktemp("canfar-client") / "venv"
    venv.EnvBuilder(with_pip=True).create(folder)
    install = subprocess.run(
        [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", *CLIENT_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if install.returncode != 0 or not _usable(folder):
        pytest.skip(f"cannot install the canfar client from PyPI: {install.stderr[-400:]}")
    return folder


@pytest.fixture
def client_env(tmp_path: Path, skaha: EmulatorServer, token: str, pki: TestPKI) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    browser = tmp_path / "browser"  # what Session.connect opens, written down
    browser.write_text(f'#!/bin/sh\necho "$1" >> {home}/opened\n')
    browser.chmod(0o755)
    return {
        "BROWSER": str(browser),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "SKAHA_URL": skaha.url,
        "SKAHA_TOKEN": token,
        "SSL_CERT_FILE": str(pki.ca_cert),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


def drive(client_venv: Path, scenario: str, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [str(client_venv / "bin" / "python"), str(DRIVER), scenario],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=180,
    )
    assert done.returncode == 0, f"canfar client failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_client_version(client_venv: Path) -> None:
    done = subprocess.run(
        [str(client_venv / "bin" / "python"), "-c", "import canfar; print(canfar.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("1.5.")


def test_headless_sessions_replicas_logs_events_renew_stats_destroy_with(
    client_venv: Path, client_env: dict[str, str], emulator: SkahaEmulator, user: tuple[str, str]
) -> None:
    outcome = drive(client_venv, "headless", client_env)
    assert outcome["destroyed"] == 3
    # the client says who it is on every call
    mine = [kind for path, kind, how in emulator.auth_types if how == "token"]
    assert "RUNTIME-TOKEN" in mine


def test_every_interactive_type(client_venv: Path, client_env: dict[str, str]) -> None:
    outcome = drive(client_venv, "interactive", client_env)
    connect = outcome["connect"]
    assert isinstance(connect, dict)
    assert set(connect) == {"notebook", "desktop", "carta", "firefly", "contributed"}


def test_async_client(client_venv: Path, client_env: dict[str, str]) -> None:
    outcome = drive(client_venv, "async", client_env)
    assert isinstance(outcome["ids"], list)
    assert len(outcome["ids"]) == 2


def test_server_discovery_reads_the_capabilities(
    client_venv: Path, client_env: dict[str, str], skaha: EmulatorServer, emulator: SkahaEmulator
) -> None:
    outcome = drive(client_venv, "discovery", client_env)
    assert outcome["url"] == skaha.url
    assert outcome["version"] == "v1"
    assert outcome["auths"] == ["x509", "oidc"]
    assert outcome["max_sessions"] == emulator.settings.max_interactive_sessions
    assert outcome["fixed_cores"] == max(emulator.settings.cores)


def test_x509_client_certificate_over_tls(
    client_venv: Path, client_env: dict[str, str], skaha: EmulatorServer, pki: TestPKI
) -> None:
    env = {k: v for k, v in client_env.items() if k != "SKAHA_TOKEN"}
    env |= {"SKAHA_URL": skaha.tls_url, "SKAHA_CERT": str(pki.clients["x509other"])}
    assert drive(client_venv, "x509", env) == {"userid": "x509other"}


# --------------------------------------------------------------------------- CLI

Cli = Callable[..., str]


@pytest.fixture
def cli(client_venv: Path, client_env: dict[str, str], skaha: EmulatorServer) -> Cli:
    """``cli(*args)`` runs ``canfar ARGS`` and answers its output; it fails the
    test on a non-zero exit or any output that names a failure or error."""
    env = client_env | {"CANFAR_TOKEN": client_env["SKAHA_TOKEN"], "CANFAR_URL": skaha.url + "/v1"}

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(client_venv / "bin" / "canfar"), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        said = done.stdout + done.stderr
        assert done.returncode == 0, f"canfar {' '.join(args)} exited {done.returncode}:\n{said}"
        assert not re.search(r"(?i)\b(failed|error|traceback)", said), said
        return said

    return run


def _wait(emulator: SkahaEmulator, userid: str, status: str, count: int) -> list[str]:
    """The ids of the user's ``clijob-N`` sessions once ``count`` of them have ``status``."""
    found: list[str] = []
    for _ in range(600):
        mine = [s for s in list(emulator.sessions.values()) if s.userid == userid]
        found = [s.id for s in sorted(mine, key=lambda s: s.name) if s.status == status]
        if len(found) == count and len(mine) == count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not {count} x {status}: {found}")


def test_cli_create_ps_info_events_renew_logs_stats_images_delete_prune(
    cli: Cli, emulator: SkahaEmulator, user: tuple[str, str]
) -> None:
    userid = user[0]
    emulator.hold = True  # Pending (still renewable) until released: no race with the CLI
    said = cli("create", "headless", "skaha/terminal:1.1.2", "-n", "clijob", "-r", "2",
               "-e", "X=1", "--", "sh", "-c", "echo${IFS}cli-$REPLICA_ID-$X")  # fmt: skip
    assert "clijob" in said
    ids = _wait(emulator, userid, "Pending", 2)
    listing = cli("ps")
    assert all(ident in listing for ident in ids)
    assert "clijob-1" in cli("info", ids[0])
    assert "Successfully renewed 2 session(s)" in cli("renew", *ids)
    emulator.hold = False
    emulator.release()
    _wait(emulator, userid, "Completed", 2)
    events = cli("events", *ids)
    assert events.count("Scheduled") == 2  # kubectl's padded columns parse into its table
    assert "cli-1-1" in cli("logs", ids[0])
    assert "Usage" in cli("stats")
    assert "terminal" in cli("image", "ls")
    cli("delete", "-f", ids[0])
    assert "Deleted 1 sessions" in cli("prune", "clijob", "headless", "Completed")
    _wait(emulator, userid, "Completed", 0)
