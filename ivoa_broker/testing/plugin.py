"""The pytest plugin of the conformance kit (registered through ``pytest11``).

It adds one option and one marker:

* ``--adapter-live[=PLUGIN[,PLUGIN...]]`` runs tests marked ``live`` (and the
  conformance classes in their live form) against real platforms configured
  from the environment. Without a value every plug-in runs live; with a value
  only the named plug-ins do.
* ``adapter_live`` marks a test that needs a real platform. Without
  ``--adapter-live`` such tests are skipped with a reason saying how to run them.

Installing ivoa-broker must not change other projects' test runs, so the
plug-in touches only what opted in: tests marked ``adapter_live``; tests marked
``live`` in a project whose pytest configuration says ``ivoa_broker_live = true``
(this repository does); and ``live`` tests of the kit's own conformance classes
(:class:`~ivoa_broker.testing.AdapterConformance` subclasses). A ``live``
directory or module name is never taken for the marker.

A conformance subclass asks the ``adapter_live`` fixture whether its plug-in
should run live (``adapter_live("ssh")`` is ``True`` or ``False``) and builds
its ``adapter``/``platform`` fixtures accordingly.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

LIVE_OPTION = "--adapter-live"
LIVE_INI = "ivoa_broker_live"
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


    parser.addini(
        LIVE_INI,
        type="bool",
        default=False,
        help="skip tests marked 'live' unless --adapter-live selects them (ivoa-broker kit)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Plug-in distributions outside the core repository get the marker too.
    config.addinivalue_line(
        "markers",
        "adapter_live: runs against a real platform configured from the environment "
        "(--adapter-live)",
    )
    if config.getini(LIVE_INI):  # this project opted in: 'live' is the kit's marker too
        config.addinivalue_line(
            "markers",
            "live: runs against a real platform configured from the environment "
            "(--adapter-live)",
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
    opted_in = bool(config.getini(LIVE_INI))
    for item in items:
        if _is_live(item, opted_in):
            item.add_marker(skip)


def _is_live(item: pytest.Item, opted_in: bool) -> bool:
    """Is ``item`` a live test this plug-in is responsible for (see the module docs)?"""
    if item.get_closest_marker("adapter_live") is not None:
        return True
    if item.get_closest_marker("live") is None:
        return False
    if opted_in:
        return True
    from ivoa_broker.testing.conformance import AdapterConformance

    cls = getattr(item, "cls", None)
    return isinstance(cls, type) and issubclass(cls, AdapterConformance)


@pytest.fixture
def adapter_live(request: pytest.FixtureRequest) -> Callable[[str], bool]:
    """``adapter_live(plugin)``: should this plug-in's tests run against its real platform?"""

    def check(plugin: str) -> bool:
        return live_enabled(request.config, plugin)

    return check
