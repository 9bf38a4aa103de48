"""Drives the skaha emulator with the official ``canfar`` client (PyPI).

Run by ``test_canfar_official_client.py`` with the python of the client's own
virtualenv (it is not importable from the broker's): ``python
canfar_client_driver.py SCENARIO`` with ``SKAHA_URL`` (the skaha base URL),
``SKAHA_TOKEN`` or ``SKAHA_CERT`` in the environment. Every client call uses
``errors="raise"``, so any HTTP error the client sees fails the scenario (exit
status 1 with the traceback); on success the last stdout line is a JSON
summary the test checks.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from canfar.context import Context
from canfar.images import Images
from canfar.models.session import FetchResponse
from canfar.sessions import AsyncSession, Session

BASE = os.environ["SKAHA_URL"]
API = BASE + "/v1"
WAIT = 60.0


def credentials() -> dict[str, Any]:
    if os.environ.get("SKAHA_CERT"):
        return {"certificate": Path(os.environ["SKAHA_CERT"])}
    return {"token": os.environ["SKAHA_TOKEN"]}


def client() -> Session:
    return Session(url=API, errors="raise", **credentials())


def until(session: Session, ids: list[str], *statuses: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        infos = session.info(ids)
        if len(infos) == len(ids) and all(i["status"] in statuses for i in infos):
            return infos
        time.sleep(0.1)
    raise AssertionError(f"{ids} never reached {statuses}: {session.info(ids)}")


def check_record(record: dict[str, Any]) -> None:
    parsed = FetchResponse.model_validate(record)
    # what a real skaha may leave out (metrics) is all the client may miss
    unexpected = [a for a in parsed.anomalies if "InUse" not in a]
    assert not unexpected, unexpected


def headless() -> dict[str, Any]:
    with client() as session:
        ids = session.create(
            name="rep",
            image="skaha/terminal:1.1.2",  # the client expands short names
            kind="headless",
            cmd="sh",
            args="-c echo${IFS}replica-$REPLICA_ID-of-$REPLICA_COUNT-$GREETING",
            env={"GREETING": "hi"},
            replicas=3,
        )
        assert len(ids) == 3, ids
        infos = until(session, ids, "Completed")
        for info in infos:
            check_record(info)
            assert info["isFixedResources"] is False, info  # flexible: no cores/ram
        listed = session.fetch(kind="headless", status="Completed")
        assert set(ids) <= {s["id"] for s in listed}, listed
        logs = session.logs(ids)
        assert logs is not None
        for number, ident in enumerate(ids, 1):
            assert logs[ident] == f"replica-{number}-of-3-hi\n", logs
        events = session.events(ids)
        assert events is not None
        rows = {ident: text.strip().split("\n") for e in events for ident, text in e.items()}
        for ident in ids:
            header, *lines = rows[ident]
            assert header.split() == ["TYPE", "REASON", "MESSAGE", "FIRST-TIME", "LAST-TIME"]
            assert lines, rows[ident]
        fixed = session.create(
            name="fixed", image="skaha/terminal:1.1.2", cores=2, ram=4, cmd="sleep", args="30"
        )
        [running] = until(session, fixed, "Running")
        assert running["isFixedResources"] is True
        assert (running["requestedCPUCores"], running["requestedRAM"]) == ("2", "4.29")
        assert session.renew(fixed) == {fixed[0]: True}
        stats = session.stats()
        assert stats["cores"]["requestedCPUCores"] >= 2, stats
        assert set(stats["ram"]) >= {"requestedRAM", "ramAvailable", "maxRAM"}, stats
        assert session.destroy(fixed) == {fixed[0]: True}
        destroyed = session.destroy_with(prefix="rep")  # kind headless, status Completed
        assert destroyed == dict.fromkeys(ids, True), destroyed
    images = Images(url=API, **credentials()).fetch(kind="headless")
    assert "images.canfar.net/skaha/terminal:1.1.2" in images
    details = Images(url=API, **credentials()).details()
    assert all(d.id and d.types for d in details), details
    resources = Context(url=API, **credentials()).resources()
    assert resources["cores"]["options"], resources
    return {"ids": ids, "destroyed": len(destroyed)}


INTERACTIVE = (
    ("notebook", "skaha/base-notebook"),
    ("desktop", "skaha/desktop"),
    ("carta", "skaha/carta:4.1"),
    ("firefly", "skaha/firefly:2024.3"),
    ("contributed", "contrib/pluto:0.19"),
)


def interactive() -> dict[str, Any]:
    seen = {}
    with client() as session:
        for kind, image in INTERACTIVE:
            [ident] = session.create(name=f"my-{kind}", image=image, kind=kind)  # type: ignore[arg-type]
            [info] = until(session, [ident], "Running")
            check_record(info)
            assert info["type"] == kind
            assert info["connectURL"].startswith("http"), info
            assert [s["id"] for s in session.fetch(kind=kind, status="Running")] == [ident]  # type: ignore[arg-type]
            assert session.renew(ident) == {ident: True}
            session.connect(ident)  # opens the connectURL with $BROWSER
            assert session.destroy(ident) == {ident: True}
            seen[kind] = info["connectURL"]
        assert session.fetch(kind="desktop-app") == []
    opened = Path(os.environ["HOME"], "opened").read_text().split()
    assert opened == list(seen.values()), opened
    return {"connect": seen}


async def asynchronous() -> dict[str, Any]:
    async with AsyncSession(url=API, errors="raise", **credentials()) as session:
        ids = await session.create(
            name="async",
            image="images.canfar.net/skaha/terminal:1.1.2",
            cmd="sh",
            args="-c echo${IFS}async-$REPLICA_ID;sleep${IFS}2",
            replicas=2,
        )
        assert len(ids) == 2, ids
        deadline = time.monotonic() + WAIT
        while True:
            infos = await session.info(ids)
            if all(i["status"] == "Running" for i in infos):
                break
            assert time.monotonic() < deadline, infos
            await asyncio.sleep(0.1)
        assert await session.renew(ids) == dict.fromkeys(ids, True)
        listed = await session.fetch(kind="headless")
        assert {s["id"] for s in listed} >= set(ids)
        while True:
            infos = await session.info(ids)
            if all(i["status"] == "Completed" for i in infos):
                break
            assert time.monotonic() < deadline, infos
            await asyncio.sleep(0.1)
        logs = await session.logs(ids)
        assert logs is not None
        assert [logs[i] for i in ids] == ["async-1\n", "async-2\n"], logs
        events = await session.events(ids)
        assert events is not None
        assert len(events) == 2
        stats = await session.stats()
        assert "cores" in stats
        assert await session.destroy(ids[0]) == {ids[0]: True}
        assert await session.destroy_with(prefix="async") == {ids[1]: True}
    return {"ids": ids}


def discovery() -> dict[str, Any]:
    from canfar._server_discovery import _fetch_resources, enrich
    from canfar.models.http import Server

    token = os.environ.get("SKAHA_TOKEN")
    server = enrich(Server(name="emulated", url=BASE), token=token, strict=True, timeout=10)
    server = _fetch_resources(
        server, config=server_config(), authentication_idp="emulated", token=token, timeout=10
    )
    assert server.resources is not None
    return {
        "url": str(server.url),
        "version": server.version,
        "auths": list(server.auths or []),
        "max_sessions": server.resources.sessions,
        "fixed_cores": server.resources.fixed.cores.max if server.resources.fixed.cores else None,
    }


def server_config() -> Any:
    from canfar.models.config import Configuration

    return Configuration()


def x509() -> dict[str, Any]:
    with client() as session:
        [ident] = session.create(
            name="cert", image="skaha/terminal:1.1.2", cmd="sh", args="-c id${IFS}-un;echo${IFS}ok"
        )
        [info] = until(session, [ident], "Completed")
        logs = session.logs(ident)
        assert logs is not None
        assert logs[ident].endswith("ok\n"), logs
        assert session.destroy(ident) == {ident: True}
    return {"userid": info["userid"]}


SCENARIOS = {
    "headless": headless,
    "interactive": interactive,
    "async": lambda: asyncio.run(asynchronous()),
    "discovery": discovery,
    "x509": x509,
}

if __name__ == "__main__":
    outcome = SCENARIOS[sys.argv[1]]()
    print(json.dumps(outcome))
