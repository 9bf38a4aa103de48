"""Where the API server is and how to authenticate: a kubeconfig file and
context, or the in-cluster service account.

Supported in a kubeconfig user: ``token``, ``tokenFile``, ``client-certificate``
/ ``client-key`` (files or ``-data``), ``username``/``password`` (basic); in a
cluster: ``server``, ``certificate-authority`` (file or ``-data``),
``insecure-skip-tls-verify``, ``tls-server-name``. ``exec`` and
``auth-provider`` plug-ins are not supported (say so, clearly).
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ivoa_broker.protocol import InvalidRequest, Secret

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Connection:
    server: str
    token: Secret | None = None
    basic: tuple[str, Secret] | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    verify: bool = True
    tls_server_name: str | None = None
    namespace: str | None = None

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https://"):
            return True
        if not self.verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return ctx


def _by_name(items: list[dict[str, Any]] | None, name: str, what: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return dict(item.get(what) or {})
    raise InvalidRequest(f"kubeconfig has no {what} named {name!r}")


def _file(base: Path, entry: dict[str, Any], key: str, secrets_dir: Path, out: str) -> Path | None:
    """A file named by ``key`` or written from ``key-data`` (0600 in ``secrets_dir``)."""
    data = entry.get(f"{key}-data")
    if data:
        secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = secrets_dir / out
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64decode(data))
        return path
    if entry.get(key):
        path = Path(entry[key])
        return path if path.is_absolute() else base / path
    return None


def from_kubeconfig(path: Path, context: str | None, secrets_dir: Path) -> Connection:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidRequest(f"cannot read kubeconfig {path}: {exc}") from None
    name = context or doc.get("current-context")
    if not name:
        raise InvalidRequest(f"kubeconfig {path} names no current-context; set 'context'")
    ctx = _by_name(doc.get("contexts"), name, "context")
    cluster = _by_name(doc.get("clusters"), ctx.get("cluster", ""), "cluster")
    user = _by_name(doc.get("users"), ctx["user"], "user") if ctx.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise InvalidRequest(
            "kubeconfig users with 'exec' or 'auth-provider' plug-ins are not supported; "
            "use a service-account token or a client certificate"
        )
    base = path.parent
    token: Secret | None = None
    if user.get("token"):
        token = Secret(str(user["token"]))
    elif user.get("tokenFile"):
        token = Secret(Path(user["tokenFile"]).read_text().strip())
    basic = None
    if user.get("username") and user.get("password"):
        basic = (str(user["username"]), Secret(str(user["password"])))
    return Connection(
        server=str(cluster.get("server", "")).rstrip("/"),
        token=token,
        basic=basic,
        ca_file=_file(base, cluster, "certificate-authority", secrets_dir, "ca.crt"),
        cert_file=_file(base, user, "client-certificate", secrets_dir, "client.crt"),
        key_file=_file(base, user, "client-key", secrets_dir, "client.key"),
        verify=not cluster.get("insecure-skip-tls-verify", False),
        tls_server_name=cluster.get("tls-server-name"),
        namespace=ctx.get("namespace"),
    )


def in_cluster(sa_dir: Path = SA_DIR) -> Connection:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not (sa_dir / "token").exists():
        raise InvalidRequest(
            "not running in a cluster: no KUBERNETES_SERVICE_HOST or service-account token"
        )
    if ":" in host:
        host = f"[{host}]"
    namespace = (
        (sa_dir / "namespace").read_text().strip() if (sa_dir / "namespace").exists() else None
    )
    return Connection(
        server=f"https://{host}:{port}",
        token=Secret((sa_dir / "token").read_text().strip()),
        ca_file=sa_dir / "ca.crt",
        namespace=namespace,
    )
