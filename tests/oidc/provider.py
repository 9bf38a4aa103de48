"""The identity tests' OpenID provider: node's oidc-provider running provider.mjs.

The fixture owns the signing keys (RSA, written as a private JWKS file the provider
reads), so a test can both get real tokens from the provider (client credentials, a
scripted authorization-code flow with PKCE) and sign crafted ones with the provider's
very key (expired, wrong issuer, ...). :meth:`OpenIDProvider.rotate` puts a new key
first in the file and tells the provider to reload it: new tokens carry a new ``kid``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

HERE = Path(__file__).parent
DEFAULT_MODULES = Path("/opt/ivoa-broker-oidc/node_modules")
CLIENTS = {
    "broker-cli": "broker-cli-secret-0123456789",
    "ivoa-broker": "ivoa-broker-secret-0123456789",
    "broker-web": "broker-web-secret-0123456789",
}
REDIRECT = "http://127.0.0.1/callback"
AUDIENCE = "urn:ivoa-broker"


def node_modules() -> Path | None:
    """Where oidc-provider is installed (.ci/install.d/35-oidc-provider.sh), or None."""
    configured = os.environ.get("IVOA_BROKER_OIDC_NODE_MODULES")
    folder = Path(configured) if configured else DEFAULT_MODULES
    found = (folder / "oidc-provider" / "package.json").is_file() and shutil.which("node")
    return folder if found else None


class SigningKey:
    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex[:12]
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = RSAAlgorithm.to_jwk(self.private, as_dict=True)
        return {**data, "kid": self.kid, "alg": "RS256", "use": "sig"}


class OpenIDProvider:
    def __init__(self, state: Path, modules: Path) -> None:
        self.state = state
        self.modules = modules
        self.keys_file = state / "keys.json"
        self.keys = [SigningKey()]
        self.process: subprocess.Popen[str] | None = None
        self.issuer = ""
        self.log = state / "provider.log"

    # ------------------------------------------------------------ process

    def start(self) -> OpenIDProvider:
        self._write_keys()
        env = {
            **os.environ,
            "OIDC_KEYS": str(self.keys_file),
            "OIDC_NODE_MODULES": str(self.modules),
            "OIDC_PORT": "0",
        }
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                ["node", str(HERE / "provider.mjs")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until "READY <port>" or exit
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: {self.log.read_text()[-2000:]}")
        self.issuer = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _write_keys(self) -> None:
        data = {"keys": [k.jwk() for k in self.keys]}
        tmp = self.keys_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.keys_file)

    def rotate(self) -> SigningKey:
        """A new signing key, published first (the old one stays, for tokens in flight)."""
        key = SigningKey()
        self.keys.insert(0, key)
        self._write_keys()
        httpx.post(f"{self.issuer}/_control/rotate", timeout=10).raise_for_status()
        return key

    # ------------------------------------------------------------ tokens

    def client_credentials(self, client: str = "broker-cli", resource: str = AUDIENCE) -> str:
        r = httpx.post(
            f"{self.issuer}/token",
            data={"grant_type": "client_credentials", "resource": resource, "scope": "jobs"},
            auth=(client, CLIENTS[client]),
            timeout=10,
        )
        r.raise_for_status()
        token: str = r.json()["access_token"]
        return token

    def login(self, user: str, resource: str = AUDIENCE) -> str:
        """The authorization-code flow with PKCE, driven like a browser: the provider's
        scripted interaction signs ``user`` in and grants the request."""
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        params = {
            "client_id": "broker-cli",
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "openid jobs",
            "resource": resource,
            "login_hint": user,
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        with httpx.Client(base_url=self.issuer, timeout=10) as browser:
            response = browser.get("/auth", params=params)
            for _ in range(10):
                location = response.headers.get("location")
                if response.status_code not in (302, 303) or location is None:
                    raise RuntimeError(f"login stopped at {response.status_code}: {response.text}")
                if location.startswith(REDIRECT):
                    break
                response = browser.get(location)
            else:
                raise RuntimeError("too many redirects in the login")
            query = parse_qs(urlsplit(location).query)
            if "code" not in query:
                raise RuntimeError(f"no code in the redirect: {query}")
            token = browser.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": query["code"][0],
                    "redirect_uri": REDIRECT,
                    "code_verifier": verifier,
                    "resource": resource,
                },
                auth=("broker-cli", CLIENTS["broker-cli"]),
            )
            token.raise_for_status()
            access: str = token.json()["access_token"]
            return access

    def sign(self, claims: dict[str, Any], key: SigningKey | None = None, **header: Any) -> str:
        """A token signed with the provider's current key (or ``key``): for crafted
        claims (expired, not yet valid, wrong issuer) that the provider would not issue."""
        key = key or self.keys[0]
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "sub": "alice",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "groups": ["astro"],
            **claims,
        }
        return jwt.encode(body, key.private, algorithm="RS256", headers={"kid": key.kid, **header})
