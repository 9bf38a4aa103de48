"""BinderHub's names (``_naming``, after ``binderhub/launcher.py``), the tag notes
(``_tags``) and token scopes (``_hub``): pure functions, no hub."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from ivoa_broker_binderhub._hub import server_scope_of
from ivoa_broker_binderhub._naming import (
    SUFFIX_LENGTH,
    anonymous,
    launch_name,
    name_prefix,
    unique_name,
)
from ivoa_broker_binderhub._tags import parse_note, tag_note
from ivoa_broker_jupyterhub.client import ServerInfo

FIXTURE = Path(__file__).parent / "fixtures" / "fullbuild.eventsource"
OPTIONS = {"repo_url": "https://github.com/org/repo", "binder_request": "v2/gh/org/repo/HEAD"}


def _server(user: str, name: str = "", options: dict[str, Any] | None = None) -> ServerInfo:
    return ServerInfo(
        user=user,
        name=name,
        ready=True,
        pending=None,
        stopped=False,
        url="",
        user_options=OPTIONS if options is None else options,
    )


def test_names_as_binderhubs_launcher_docstring() -> None:
    # launcher.py lines 146-147: "minrk-binder-example-abc123 from .../minrk/binder-example.git"
    name = unique_name("https://github.com/minrk/binder-example.git")
    assert re.fullmatch(r"minrk-binder-example-[a-z0-9]{8}", name), name
    assert unique_name("https://github.com/minrk/binder-example.git") != name


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("https://github.com/Org/Repo", "org-repo"),
        ("git@github.com:org/repo.git", "org-repo"),  # the ssh form (launcher.py line 150)
        ("/tmp/x/session", "tmp-x-session"),
        ("https://gitlab.com/" + "a" * 20 + "/" + "b" * 20, "a" * 15 + "-" + "b" * 15),
        ("https://example.org/" + "c" * 32, "c" * 32),  # 32 is not cut, 33 is
        ("https://example.org/" + "c" * 33, "c" * 15 + "-" + "c" * 15),
    ],
)
def test_name_prefix(url: str, prefix: str) -> None:
    assert name_prefix(url) == prefix


def test_binderhubs_recorded_launch_is_recognised() -> None:
    """The temporary user of BinderHub's own recorded launch (authentication off)."""
    ready = json.loads(FIXTURE.read_text().strip().splitlines()[-1].removeprefix("data:"))
    user = ready["url"].rstrip("/").rsplit("/", 1)[-1]
    options = {k: v for k, v in ready.items() if k not in ("phase", "message", "url")}
    server = _server(user, "", options)
    assert launch_name(server) == user == "binder-examples-octave-3ilc7xl2"
    assert anonymous(server)


def test_a_named_server_of_a_signed_in_user() -> None:
    name = unique_name(OPTIONS["repo_url"])
    server = _server("alice", name)
    assert launch_name(server) == name
    assert not anonymous(server)


@pytest.mark.parametrize(
    "server",
    [
        _server("org-repo-abcd1234", options={}),  # no BinderHub options
        _server("alice", "lab"),  # not a name made from its repo_url
        _server("org-repo-abcd123"),  # suffix too short
        _server("org-repo-ABCD1234"),  # upper case is not in the suffix alphabet
        _server("other-repo-abcd1234"),  # another repository's name
        _server("org-repo-abcd1234", options={**OPTIONS, "binder_request": "gh/org/repo"}),
        _server("org-repo-abcd1234", options={"binder_request": "v2/gh/org/repo/HEAD"}),
    ],
)
def test_servers_binderhub_did_not_launch(server: ServerInfo) -> None:
    assert launch_name(server) is None
    assert not anonymous(server)


def test_suffix_length_is_binderhubs() -> None:
    assert SUFFIX_LENGTH == 8  # launcher.py line 34


def test_tag_notes() -> None:
    assert parse_note(tag_note("binder", "job-1")) == ("binder", "job-1")
    assert parse_note(tag_note("a/b:c", "x")) == ("a/b:c", "x")
    for note in (None, 3, "binder", "Requested via api", "ivoa-broker-binder t job=", "x t job=1"):
        assert parse_note(note) is None


def test_server_scope_of() -> None:
    assert server_scope_of(["read:servers!server=u/s"], "u") == "s"
    assert server_scope_of(["read:users!user=u", "access:servers!server=u/"], "u") == ""
    assert server_scope_of(["read:servers!server=v/s"], "u") is None
    assert server_scope_of("read:servers!server=u/s", "u") is None
