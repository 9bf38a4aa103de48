"""Fixtures of the BinderHub adapter tests: one real JupyterHub (the jupyterhub
adapter's start script, free ports, per-run state folder) and the BinderHub emulator
in front of it, for the whole session; local git repositories to launch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from binder_support import BINDER_TOKEN, make_repo, serve_emulator
from ivoa_broker_binderhub.emulator import BinderEmulator
from ivoa_broker_jupyterhub.localhub import LocalHub, find_installation

from ivoa_broker.protocol import Secret


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    install = find_installation()
    if install is None:
        pytest.skip("JupyterHub is not installed: run .ci/install.d/40-jupyterhub.sh as root")
    with LocalHub(tmp_path_factory.mktemp("jupyterhub"), install) as hub:
        yield hub


@pytest.fixture(scope="session")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("repos")
    return {name: make_repo(base / name) for name in ("session", "short", "broken")}


@pytest.fixture(scope="session")
def emulator(hub: LocalHub, repos: dict[str, Path]) -> BinderEmulator:
    return BinderEmulator(
        hub_url=hub.url,
        hub_token=hub.token,
        auth_token=Secret(BINDER_TOKEN),
        delay=0.3,
        fail_repos={str(repos["broken"])},
        cull_repos={str(repos["short"]): 1.0},
    )


@pytest.fixture(scope="session")
def binder_url(emulator: BinderEmulator) -> Iterator[str]:
    with serve_emulator(emulator) as url:
        yield url
