"""A throw-away certificate authority for `credhelper selftest` and the test suite's fake GitLab.

Clients under test (git through libcurl, requests, docker) must verify TLS as
they would against a real GitLab, so the test server cannot use a self-signed
certificate that clients are told to ignore.  Instead a private CA is made per
test session; clients trust only its certificate (``GIT_SSL_CAINFO``,
``REQUESTS_CA_BUNDLE``, ``verify=``) and the server presents a certificate the
CA signed for exactly the names the test chose.  A name left out of the
certificate therefore fails verification, just as it would in production.

ECDSA P-256 keys keep generation fast (milliseconds, unlike RSA) and are
accepted by both OpenSSL and GnuTLS (Debian's git links libcurl-gnutls).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import threading
from pathlib import Path
from typing import Any, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TestCA", "DEFAULT_NAMES"]

# Every server certificate covers the loopback names, so a test can always
# reach the server directly as well as under a chosen GitLab host name.
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")

# Generous validity: the fake GitLab's token clock can be moved by tests, but
# TLS verification always uses the real clock, so certificates must simply be
# valid "now" with some slack for clock skew.
_BACKDATE = datetime.timedelta(days=1)
_LIFETIME = datetime.timedelta(days=30)


def _write_private(path: Path, data: bytes) -> None:
    """Write key material readable by the owner only (0600), never wider.

    The file is created with the restrictive mode from the start so there is
    no window in which it is world-readable.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)  # the file may have existed with another mode


def _san_entries(names: Iterable[str]) -> list[x509.GeneralName]:
    """Turn host names and IP literals into subjectAltName entries."""
    entries: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in names:
        name = name.strip().strip("[]")  # tolerate "[::1]" as written in URLs
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def _certificate_builder(subject: x509.Name, issuer: x509.Name, public_key: Any,
                         now: datetime.datetime,
                         *, ca: bool) -> x509.CertificateBuilder:
    """What CA and server certificates share: a random serial, the validity
    around *now*, and BasicConstraints and KeyUsage.

    Strict verifiers (OpenSSL 3 with X509_STRICT, as Python 3.13 enables by
    default) insist on these extensions being present and critical where
    RFC 5280 says so.
    """
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _LIFETIME)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                crl_sign=ca, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    )


class TestCA:
    """A CA key and certificate in *directory*, plus a default server certificate.

    Attributes:
        ca_file: PEM of the CA certificate: what clients trust.
        cert_file, key_file: the default server certificate (covering *names*
            plus localhost, 127.0.0.1 and ::1) and its private key.
    """

    # Not a pytest test class, despite the name.
    __test__ = False

    def __init__(self, directory: str | os.PathLike,
                 names: Iterable[str] = ("gitlab.example.com",)):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._serial = 0
        now = datetime.datetime.now(datetime.timezone.utc)

        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "credhelper tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, "credhelper test CA"),
        ])
        ca_public = self._ca_key.public_key()
        self._ca_cert = (
            _certificate_builder(ca_name, ca_name, ca_public, now, ca=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_public), critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca_file = str(self.directory / "ca.pem")
        Path(self.ca_file).write_bytes(self._ca_cert.public_bytes(serialization.Encoding.PEM))
        # The CA key stays in memory only: nothing outside this object needs
        # to sign with it, and not writing it leaves one secret less on disk.

        self.names = tuple(names)
        self.cert_file, self.key_file = self.issue(self.names, basename="server")

    def issue(self, names: Iterable[str], basename: str | None = None) -> tuple[str, str]:
        """Sign a server certificate for *names* (plus the loopback names).

        Returns ``(cert_file, key_file)``; the key file has mode 0600.
        """
        names = list(names)
        with self._lock:
            self._serial += 1
            serial = self._serial
        base = basename or f"server-{serial}"
        now = datetime.datetime.now(datetime.timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        all_names = names + [n for n in DEFAULT_NAMES if n not in names]
        first = next((n for n in all_names if n), "localhost")
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first[:64])])
        cert = (
            _certificate_builder(subject, self._ca_cert.subject, key.public_key(), now, ca=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            # Host names are matched against subjectAltName only; the CN is
            # ignored by modern clients.
            .add_extension(x509.SubjectAlternativeName(_san_entries(all_names)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                critical=False,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        cert_path = self.directory / f"{base}.pem"
        key_path = self.directory / f"{base}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        return str(cert_path), str(key_path)

    def __repr__(self) -> str:
        return f"TestCA(directory={str(self.directory)!r})"
