"""The server's VAPID key (RFC 8292): made at the first start, kept in the state folder.

Browsers subscribe with its public key (``applicationServerKey``), and push services
accept only requests signed with its private key. A new key ends every rider's
subscription (browsers refuse to re-subscribe with another key): keep the file, back it
up with the database. The file is created owner-only (``core.private_files``) before the
key is written, and the private key is never logged or shown.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from rider_api.core.private_files import private_dir, private_file

__all__ = ["VapidKey", "audience", "b64url"]

logger = logging.getLogger(__name__)

#: How long a signature is valid (RFC 8292 allows 24 h; less keeps clock skew harmless).
TOKEN_LIFETIME_S = 12 * 3600


def b64url(data: bytes) -> str:
    """base64url without padding, as browsers and push services write keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def audience(endpoint: str) -> str:
    """The push service's origin, the JWT's ``aud``."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True, repr=False)
class VapidKey:
    """The server's P-256 key pair; ``repr`` shows the public half only."""

    _private: ec.EllipticCurvePrivateKey
    subject: str

    def __repr__(self) -> str:
        return f"VapidKey(public_key={self.public_key!r})"

    @property
    def public_key(self) -> str:
        """The uncompressed public point, base64url: the browsers' applicationServerKey."""
        raw = self._private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    @classmethod
    def load_or_create(cls, path: Path, *, subject: str) -> VapidKey:
        """Read the key at ``path``, or make one there (mode 0600) if there is none."""
        private_dir(path.parent)
        if path.exists() and path.stat().st_size > 0:
            private_file(path)  # narrows a file made earlier with wider modes
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
                key.curve, ec.SECP256R1
            ):
                raise ValueError(f"{path} does not hold a P-256 private key (VAPID)")
            vapid = cls(key, subject)
            logger.info("web push: VAPID key read from %s (public %s)", path, vapid.public_key)
            return vapid
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        private_file(path)  # exists, empty and 0600, before the key is written
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        vapid = cls(key, subject)
        logger.info("web push: new VAPID key made in %s (public %s)", path, vapid.public_key)
        return vapid

    def authorization(self, endpoint: str, *, now: float | None = None) -> str:
        """The ``Authorization`` header for a request to ``endpoint``:
        ``vapid t=<JWT ES256>, k=<public key>``."""
        claims = {
            "aud": audience(endpoint),
            "exp": int(now if now is not None else time.time()) + TOKEN_LIFETIME_S,
            "sub": self.subject,
        }
        header: str = Vapid02(private_key=self._private).sign(claims)["Authorization"]
        return header
