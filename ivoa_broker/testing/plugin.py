"""The pytest plugin of the conformance kit (registered through ``pytest11``).

It adds one option and one marker:

* ``--adapter-live[=PLUGIN[,PLUGIN...]]`` runs tests marked ``live`` (and the
  conformance classes in their live form) against real platforms configured
  from the environment. Without a value every plug-in runs live; with a value
  only the named plug-ins do.
* ``live`` marks a test that needs a real platform. Without ``--adapter-live``
  such tests are skipped with a reason saying how to run them.

A conformance subclass asks the ``adapter_live`` fixture whether its plug-in
should run live (``adapter_live("ssh")`` is ``True`` or ``False``) and builds
its ``adapter``/``platform`` fixtures accordingly.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

LIVE_OPTION = "--adapter-live"
ALL_PLUGINS = "*"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ivoa-broker", "ivoa-broker adapter conformance kit")
    group.addoption(
        LIVE_OPTION,
        action="store",
        nargs="?",
        const=ALL_PLUGINS,
        default=None,
        metavar="PLUGIN[,PLUGIN...]",
        help="run 'live' tests against real platforms configured from the environment "
        "(all plug-ins, or only the comma-separated ones named)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Plug-in distributions outside the core repository get the marker too.
    config.addinivalue_line(
        "markers",
        "live: runs against a real platform configured from the environment (--adapter-live)",
    )


def live_plugins(config: pytest.Config) -> frozenset[str] | None:
    """The plug-ins selected for live runs: ``None`` (off), or names (``"*"`` for all)."""
    value = config.getoption(LIVE_OPTION, default=None)
    if value is None:
        return None
    return frozenset(part.strip() for part in str(value).split(",") if part.strip())


def live_enabled(config: pytest.Config, plugin: str | None = None) -> bool:
    """Whether live mode is on (for ``plugin``, when given)."""
    selected = live_plugins(config)
    if selected is None:
        return False
    return plugin is None or ALL_PLUGINS in selected or plugin in selected


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if live_plugins(config) is not None:
        return
    skip = pytest.mark.skip(
        reason=f"live test: needs a real platform configured from the environment; "
        f"run with {LIVE_OPTION}"
    )
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def adapter_live(request: pytest.FixtureRequest) -> Callable[[str], bool]:
    """``adapter_live(plugin)``: should this plug-in's tests run against its real platform?"""

    def check(plugin: str) -> bool:
        return live_enabled(request.config, plugin)

    return check
