"""A throw-away X.509 PKI for the skaha emulator's TLS listener (tests and demos).

:func:`make_test_pki` writes, into a folder of the caller's (a per-run tmp
dir), a test certificate authority, a server certificate for ``127.0.0.1`` /
``localhost`` signed by it, and client "proxy" certificates in the shape
``cadc-get-cert`` writes (``cadcproxy.pem``: certificate and unencrypted key in
one PEM file), whose subject CN is the user name skaha sees. Needs the
``cryptography`` package (the adapter's ``emulator`` extra).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TestPKI", "make_test_pki"]


@dataclass(frozen=True)
class TestPKI:
    """Paths of the files :func:`make_test_pki` wrote."""

    __test__ = False  # not a pytest test class

    folder: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    #: user name -> the user's proxy PEM (certificate + key)
    clients: dict[str, Path]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ivoa-broker test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_test_pki(folder: Path, users: tuple[str, ...] = ("x509user",)) -> TestPKI:
    """Create the CA, the server certificate and one client proxy per user."""

    folder.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.UTC)
    start, end = now - _dt.timedelta(minutes=5), now + _dt.timedelta(days=2)

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    ca_key = _key()
    ca_name = _name("ivoa-broker test CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def issue(
        common_name: str, usage: x509.ObjectIdentifier, san: bool
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = _key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        return key, builder.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(pem))
    server_key, server = issue("localhost", ExtendedKeyUsageOID.SERVER_AUTH, san=True)
    server_cert_path, server_key_path = folder / "server.pem", folder / "server-key.pem"
    server_cert_path.write_bytes(server.public_bytes(pem))
    server_key_path.write_bytes(pem_key(server_key))
    server_key_path.chmod(0o600)
    clients: dict[str, Path] = {}
    for user in users:
        key, cert = issue(user, ExtendedKeyUsageOID.CLIENT_AUTH, san=False)
        path = folder / f"{user}-cadcproxy.pem"
        path.write_bytes(cert.public_bytes(pem) + pem_key(key))
        path.chmod(0o600)
        clients[user] = path
    return TestPKI(folder, ca_path, server_cert_path, server_key_path, clients)
