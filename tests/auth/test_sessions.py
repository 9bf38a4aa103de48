"""The sign-in cookie's sealing (auth/sessions.py) and key (session.key)."""

from __future__ import annotations

import base64
import contextlib
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from ivoa_broker.auth.sessions import KEY_FILE, Sealer, SessionCookies, load_secret
from ivoa_broker.auth.settings import SessionSection

SECRET = "a-test-secret-of-at-least-32-characters!"
TOKEN = "tok-alice-0123456789abcdef"


def _decodings(value: str) -> list[bytes]:
    """Every base64 reading of the cookie's parts (what anyone holding it could try)."""
    out = [value.encode()]
    for part in value.split("."):
        for pad in range(3):
            try:
                inner = base64.urlsafe_b64decode(part + "=" * pad)
            except ValueError:
                continue
            out.append(inner)
            with contextlib.suppress(ValueError):
                out.append(base64.urlsafe_b64decode(inner + b"=" * pad))
    return out


def test_a_session_opens_to_its_token_and_does_not_show_it() -> None:
    cookies = SessionCookies(Sealer(SECRET), lifetime=3600)
    value = cookies.session(TOKEN)
    assert cookies.token(value) == TOKEN
    assert all(TOKEN.encode() not in d for d in _decodings(value))
    assert cookies.session(TOKEN) != value  # a fresh nonce every time


@pytest.mark.parametrize("where", [0.0, 0.3, 0.6, 0.95])
def test_a_tampered_cookie_opens_to_nothing(where: float) -> None:
    cookies = SessionCookies(Sealer(SECRET), lifetime=3600)
    value = cookies.session(TOKEN)
    assert cookies.token(tamper(value, where)) is None


def tamper(value: str, where: float) -> str:
    """One character changed at ``where`` (a fraction of the length; never the last
    character, whose low bits base64 ignores)."""
    i = min(int(len(value) * where), len(value) - 2)
    while value[i] == ".":
        i += 1
    return value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]


def test_another_key_purpose_or_garbage_opens_to_nothing() -> None:
    cookies = SessionCookies(Sealer(SECRET), lifetime=3600)
    other = SessionCookies(Sealer(SECRET.upper()), lifetime=3600)
    assert other.token(cookies.session(TOKEN)) is None
    flow = cookies.flow({"s": "state"})
    assert cookies.open_flow(flow) == {"s": "state"}
    assert cookies.token(flow) is None  # a login-flow value is no session
    assert cookies.open_flow(cookies.session(TOKEN)) is None
    for junk in ("", "x", "a.b.c", "." * 10, "é" * 50, "A" * 10000):
        assert cookies.token(junk) is None


def test_a_cookie_older_than_its_lifetime_opens_to_nothing() -> None:
    now = [1_000_000.0]
    cookies = SessionCookies(Sealer(SECRET, clock=lambda: now[0]), lifetime=600)
    value = cookies.session(TOKEN)
    now[0] += 599
    assert cookies.token(value) == TOKEN
    now[0] += 5
    assert cookies.token(value) is None


def test_the_repr_names_no_secret() -> None:
    sealer = Sealer(SECRET)
    assert SECRET not in repr(sealer)
    assert SECRET not in repr(SessionCookies(sealer, 60))


def test_the_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    section = SessionSection()
    first = load_secret(section, tmp_path / "work")
    path = tmp_path / "work" / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first) >= 32
    assert load_secret(section, tmp_path / "work") == first  # a restart keeps the sign-ins
    assert [p.name for p in (tmp_path / "work").iterdir()] == [KEY_FILE]


def test_a_cut_key_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("short\n")
    made = load_secret(SessionSection(), tmp_path)
    assert len(made) >= 32
    assert (tmp_path / KEY_FILE).read_text().strip() == made


def test_the_configured_secret_wins(tmp_path: Path) -> None:
    section = SessionSection(secret=SecretStr(SECRET))
    assert load_secret(section, tmp_path) == SECRET
    assert not (tmp_path / KEY_FILE).exists()


def test_a_short_configured_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        SessionSection(secret=SecretStr("short"))
