"""A local certificate authority for the broker's TLS listener.

``bushail-broker tls init`` makes, in ``{state_dir}/tls/``:

- ``ca.key`` / ``ca.crt``: the project's own CA (EC P-256, valid ``CA_DAYS``). The key
  is owner-only and never leaves the broker's host; ``ca.crt`` is what every client
  (API, gateway, display) is given to verify the broker (``ca_file``).
- ``server.key`` / ``server.crt``: the broker's certificate, signed by that CA, for
  127.0.0.1, ::1, localhost and every ``--host`` given (IP addresses and DNS names).
  Valid ``SERVER_DAYS``; running ``tls init`` again re-issues it and keeps the CA, so
  clients keep trusting the broker.

Clients authenticate with their password over TLS (no client certificates): the
password file and its revocation stay the one place a login is allowed or cut off.
An operator with certificates of their own sets ``tls_certfile``/``tls_keyfile``
instead and gives clients their CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_DAYS",
    "DEFAULT_NAMES",
    "SERVER_DAYS",
    "TlsFiles",
    "certificate_expiry",
    "certificate_names",
    "init_tls",
    "issue_server_certificate",
    "make_ca",
    "server_names",
    "write_certificate",
    "write_key",
]

#: The CA outlives many server certificates: replacing it means re-configuring every device.
CA_DAYS = 10 * 365
#: Below the 825 days TLS clients commonly accept for a server certificate.
SERVER_DAYS = 800
#: Names every server certificate carries, so local clients can always verify it.
DEFAULT_NAMES = ("127.0.0.1", "::1", "localhost")
#: Certificates start this long before they are made, for clocks a little behind.
_BACKDATE = dt.timedelta(minutes=5)
_DNS_NAME = re.compile(r"^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the generated CA and server certificate live in a broker's state dir."""

    folder: Path

    @classmethod
    def in_state(cls, state_dir: Path) -> TlsFiles:
        return cls(state_dir.resolve() / "tls")

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    def server_ready(self) -> bool:
        """True when a server certificate and its key have been made."""
        return self.server_cert.exists() and self.server_key.exists()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    if not _DNS_NAME.match(name):
        raise ValueError(f"{name!r} is neither an IP address nor a DNS name")
    return x509.DNSName(name.rstrip(".").lower())


def _is_wildcard_address(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False


def server_names(hosts: Iterable[str]) -> list[str]:
    """The names a server certificate is issued for: the defaults, then ``hosts``.

    A listen-on-everything address (0.0.0.0, ::) is no name a client connects to and is
    left out; duplicates are dropped.
    """
    names: list[str] = []
    for name in (*DEFAULT_NAMES, *hosts):
        name = name.strip()
        if name and not _is_wildcard_address(name) and name not in names:
            _general_name(name)  # refuse a malformed name before anything is written
            names.append(name)
    return names


def make_ca(
    *, common_name: str = "BusHail local CA", days: int = CA_DAYS
) -> tuple[PrivateKey, x509.Certificate]:
    """A new self-signed CA that may sign server certificates (and no further CAs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = _now() - _BACKDATE
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_server_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    names: Sequence[str],
    *,
    days: int = SERVER_DAYS,
) -> tuple[PrivateKey, x509.Certificate]:
    """A server certificate for ``names`` (IP addresses or DNS names), signed by the CA."""
    if not names:
        raise ValueError("a server certificate needs at least one name")
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    start = _now() - _BACKDATE
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(min(start + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)  # O_CREAT's mode is only used for a new file
    os.replace(tmp, path)


def write_key(path: Path, key: PrivateKey) -> None:
    """Write a private key, owner-only, unencrypted (Mosquitto reads it unattended)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(path, pem, 0o600)


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    _write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _load_ca(files: TlsFiles) -> tuple[PrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key}: not an EC private key made by 'bushail-broker tls'")
    return key, x509.load_pem_x509_certificate(files.ca_cert.read_bytes())


def init_tls(
    state_dir: Path,
    *,
    hosts: Iterable[str] = (),
    new_ca: bool = False,
    server_days: int = SERVER_DAYS,
) -> TlsFiles:
    """Make the CA (unless there is one, or ``new_ca``) and a server certificate.

    The server certificate is always issued anew, for the default names and ``hosts``.
    """
    files = TlsFiles.in_state(state_dir)
    names = server_names(hosts)
    files.folder.mkdir(parents=True, exist_ok=True)
    # The state dir holds the device passwords too (see broker.render): owner-only.
    files.folder.parent.chmod(0o700)
    files.folder.chmod(0o700)
    if new_ca or not (files.ca_key.exists() and files.ca_cert.exists()):
        ca_key, ca_cert = make_ca()
        write_key(files.ca_key, ca_key)
        write_certificate(files.ca_cert, ca_cert)
    else:
        ca_key, ca_cert = _load_ca(files)
    key, cert = issue_server_certificate(ca_key, ca_cert, names, days=server_days)
    write_key(files.server_key, key)
    write_certificate(files.server_cert, cert)
    return files


def certificate_names(path: Path) -> list[str]:
    """The IP addresses and DNS names a certificate file is valid for."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] + list(
        san.get_values_for_type(x509.DNSName)
    )


def certificate_expiry(path: Path) -> dt.datetime:
    """When a certificate file stops being valid (UTC)."""
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc
