"""The HTML pages' sign-in cookie: the caller's token, encrypted and signed.

A browser cannot send ``Authorization: Bearer``, so after sign-in (``web/signin.py``) the
pages' requests carry the token in a cookie instead. The cookie is never a readable copy of
the token: its value is sealed by :class:`Sealer`, the token encrypted with AES-GCM (a key
derived from the broker's secret; the purpose of the value is the associated data, so a
login-flow value is no session value) and the result signed and timestamped with
itsdangerous (``TimestampSigner``, HMAC-SHA256, salted by the purpose). An opened value
older than its lifetime, tampered with, sealed with another secret or for another purpose is
simply no value (``None``).

The token inside is checked again by the :class:`~ivoa_broker.auth.Authenticator` on every
request (``auth/middleware.py``), so a token removed from the token file or an expired OpenID
token signs the browser out at once (a revoked opaque token once its introspection answer is
no longer cached, ``introspection_cache``); the cookie's own lifetime
(``[auth.session] lifetime``) bounds a sign-in whose token never expires.

The secret is ``[auth.session] secret`` (the same for every replica), else one generated on
first start and kept in ``server.work_dir/session.key`` (mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadData, TimestampSigner

from ivoa_broker.auth.settings import SessionSection

log = logging.getLogger(__name__)

__all__ = [
    "FLOW_COOKIE",
    "FLOW_LIFETIME",
    "KEY_FILE",
    "MAX_COOKIE",
    "SESSION_COOKIE",
    "Sealer",
    "SessionCookies",
    "load_secret",
]

SESSION_COOKIE = "ivoa_broker_session"
#: the state of one OpenID sign-in between the redirect and the callback
FLOW_COOKIE = "ivoa_broker_login"
#: seconds a sign-in at an OpenID provider may take
FLOW_LIFETIME = 600
KEY_FILE = "session.key"
#: longest cookie value set (browsers keep about 4096 bytes per cookie)
MAX_COOKIE = 3800
_SESSION = "session"
_FLOW = "login-flow"


class Sealer:
    """Seal and open small JSON values: AES-GCM encrypted, itsdangerous signed."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._material = secret.encode()
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"ivoa-broker cookie aead"
        ).derive(self._material)
        self._aead = AESGCM(key)

        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self._signer_class = Signer

    def __repr__(self) -> str:
        return "Sealer(<secret>)"

    def _signer(self, purpose: str) -> TimestampSigner:
        return self._signer_class(
            self._material, salt=f"ivoa-broker.{purpose}", digest_method=hashlib.sha256
        )

    def seal(self, purpose: str, data: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        plain = json.dumps(data, separators=(",", ":")).encode()
        box = nonce + self._aead.encrypt(nonce, plain, purpose.encode())
        text = base64.urlsafe_b64encode(box).rstrip(b"=")
        return self._signer(purpose).sign(text).decode("ascii")

    def open(self, purpose: str, value: str | None, max_age: int) -> dict[str, Any] | None:
        """The data sealed for ``purpose`` at most ``max_age`` seconds ago, else None."""
        if not value or len(value) > 2 * MAX_COOKIE or not value.isascii():
            return None
        try:
            text = self._signer(purpose).unsign(value, max_age=max_age)
            box = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
            plain = self._aead.decrypt(box[:12], box[12:], purpose.encode())
            data = json.loads(plain)
        except (BadData, InvalidTag, ValueError, binascii.Error):
            return None
        return data if isinstance(data, dict) else None


class SessionCookies:
    """The session and login-flow cookie values of one broker."""

    def __init__(self, sealer: Sealer, lifetime: int) -> None:
        self.sealer = sealer
        self.lifetime = lifetime

    def __repr__(self) -> str:
        return f"SessionCookies(lifetime={self.lifetime})"

    def session(self, token: str) -> str:
        return self.sealer.seal(_SESSION, {"t": token})

    def token(self, value: str | None) -> str | None:
        """The token of a session cookie still within its lifetime, else None."""
        data = self.sealer.open(_SESSION, value, self.lifetime)
        token = data.get("t") if data is not None else None
        return token if isinstance(token, str) and token else None

    def flow(self, state: dict[str, Any]) -> str:
        return self.sealer.seal(_FLOW, state)

    def open_flow(self, value: str | None) -> dict[str, Any] | None:
        return self.sealer.open(_FLOW, value, FLOW_LIFETIME)


def load_secret(section: SessionSection, work_dir: Path) -> str:
    """The configured secret, else the one kept in ``work_dir`` (made on first use)."""
    if section.secret is not None:
        return section.secret.get_secret_value()
    path = work_dir / KEY_FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    if len(text) >= 32:
        return text
    work_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    try:
        os.link(tmp, path)  # the first broker to get here wins; the others read its key
    except FileExistsError:
        theirs = path.read_text().strip()
        if len(theirs) >= 32:
            tmp.unlink()
            return theirs
        os.replace(tmp, path)  # an empty or cut file: ours replaces it
    else:
        tmp.unlink()
    log.info("session key generated in %s (set [auth.session] secret to share it)", path)
    return secret
