"""How the whole suite is spread over pytest-xdist workers (`make test`: `-n N --dist loadgroup`).

Each platform's tests start their platform once per worker that runs them (a session fixture),
so every ``adapters/<name>/`` folder is one xdist group: one worker runs all of that platform's
tests and starts it once. ``conformance/`` is one group for the same reason (DaCHS, django-uws
and the reference brokers are session fixtures). The core tests under ``tests/`` are grouped by
module, so module fixtures are made once and the many small modules fill the workers' gaps.

Groups are handed out in the order the items come, so the longest platforms go first (a worker
that picks up OpenStack near the end would set the run's length); the order inside a group is
kept, so module and class fixtures still see their tests together.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# Longest first (minutes on a 2-core machine, from the durations the suite prints); groups not
# named here come after these, in collection order, and the core modules come last.
LONGEST_FIRST = (
    "openstack",
    "conformance",
    "jupyterhub",
    "canfar",
    "binderhub",
    "slurm",
    "kubernetes",
    "docker",
    "azimuth",
    "executionbroker",
    # core modules that build or drive real tools for minutes (podman image, chromium viewers)
    "tests/test_container_image.py",
    "tests/eb/test_openapi_viewers.py",
)


def xdist_group_of(path: Path) -> str:
    """The group a test file belongs to: its platform, ``conformance``, or its own module."""
    try:
        parts = path.resolve().relative_to(ROOT).parts
    except ValueError:  # a file outside the project (a test run from elsewhere)
        return str(path)
    if len(parts) > 2 and parts[0] == "adapters":
        return parts[1]
    if parts and parts[0] == "conformance":
        return "conformance"
    if parts[:2] == ("tests", "oidc"):  # one OpenID provider for both modules
        return "tests/oidc"
    return "/".join(parts)


def _rank(group: str) -> int:
    if group in LONGEST_FIRST:
        return LONGEST_FIRST.index(group)
    if "/" not in group:  # another platform
        return len(LONGEST_FIRST)
    return len(LONGEST_FIRST) + 1


# first: xdist's own hook turns the xdist_group marks into node ids (``name@group``); marks
# added after it are ignored, and then every worker would start every platform
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = {id(item): xdist_group_of(item.path) for item in items}
    if config.pluginmanager.hasplugin("xdist"):
        for item in items:
            item.add_marker(pytest.mark.xdist_group(groups[id(item)]))
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (_rank(groups[id(item)]), order[id(item)]))
