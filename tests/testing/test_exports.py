"""The kit's public names are importable from ivoa_broker.testing and documented."""

from __future__ import annotations

import inspect

import ivoa_broker.testing as kit


def test_every_public_name_is_exported_and_documented() -> None:
    for name in kit.__all__:
        value = getattr(kit, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
            assert value.__module__.startswith("ivoa_broker.testing."), name
    assert set(kit.__all__) >= {
        "AdapterConformance",
        "PlatformController",
        "PlatformControls",
        "Fault",
        "ScriptedCommands",
        "StatefulHTTPFake",
        "WakeSignal",
        "wait_for_phase",
    }
    assert sorted(kit.__all__) == sorted(set(kit.__all__))
