"""OCI API-key request signatures (draft-cavage HTTP signatures, ``rsa-sha256``).

The SDK signs ``date (request-target) host`` on every request, and adds
``content-length content-type x-content-sha256`` on PUT/POST/PATCH unless the operation sends a
raw stream (Object Storage PutObject / UploadPart), where it signs only the generic headers.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from skybridge.testing.oci.errors import ApiError

GENERIC_HEADERS = ("date", "(request-target)", "host")
BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")
MAX_CLOCK_SKEW = 300.0  # seconds; the real service refuses requests dated more than 5 min off


@dataclass(frozen=True)
class ApiKey:
    """An RSA key pair registered as an API signing key."""

    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> ApiKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_pem(cls, pem: bytes | str) -> ApiKey:
        data = pem.encode() if isinstance(pem, str) else pem
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("OCI API keys are RSA keys")
        return cls(key)

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()

    @property
    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @property
    def fingerprint(self) -> str:
        """MD5 of the DER public key, ``aa:bb:...`` as the console shows it."""
        der = self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashlib.md5(der, usedforsecurity=False).hexdigest()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def not_authenticated(reason: str) -> ApiError:
    return ApiError(
        401,
        "NotAuthenticated",
        "The required information to complete authentication was not provided or was "
        f"incorrect. ({reason})",
    )


_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_authorization(value: str) -> dict[str, str]:
    if not value.startswith("Signature "):
        raise not_authenticated("authorization header is not an HTTP signature")
    return dict(_PARAM.findall(value))


def signing_string(names: list[str], method: str, target: str, headers: Mapping[str, str]) -> bytes:
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name in headers:
            lines.append(f"{name}: {headers[name]}")
        else:
            raise not_authenticated(f"signed header {name!r} is missing from the request")
    return "\n".join(lines).encode()


@dataclass
class SignatureVerifier:
    """Checks requests against the API keys it trusts (``keyId`` -> public key)."""

    trusted: dict[str, rsa.RSAPublicKey]
    check_date: bool = True

    def verify(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, *, signs_body: bool
    ) -> None:
        """Raise a 401 :class:`ApiError` unless the request is signed by a trusted key."""
        params = parse_authorization(headers.get("authorization", ""))
        public_key = self.trusted.get(params.get("keyId", ""))
        if public_key is None:
            raise not_authenticated("unknown keyId")
        if params.get("algorithm", "rsa-sha256") != "rsa-sha256":
            raise not_authenticated("unsupported signature algorithm")
        names = params.get("headers", "date").lower().split()
        required = list(GENERIC_HEADERS)
        if signs_body and method in {"PUT", "POST", "PATCH"}:
            required += BODY_HEADERS
        absent = [name for name in required if name not in names]
        if absent:
            raise not_authenticated(f"headers {absent} must be signed")
        if "x-content-sha256" in names:
            self._check_body(headers, body)
        if self.check_date:
            _check_date(headers.get("date", ""))
        message = signing_string(names, method, target, headers)
        try:
            signature = base64.b64decode(params.get("signature", ""), validate=True)
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            raise not_authenticated("signature does not verify") from None

    @staticmethod
    def _check_body(headers: Mapping[str, str], body: bytes) -> None:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("x-content-sha256") != digest:
            raise not_authenticated("x-content-sha256 does not match the body")
        if headers.get("content-length", str(len(body))) != str(len(body)):
            raise not_authenticated("content-length does not match the body")


def _check_date(value: str) -> None:
    try:
        sent = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        raise not_authenticated("date header is missing or malformed") from None
    if abs(time.time() - sent) > MAX_CLOCK_SKEW:
        raise not_authenticated("date header is more than 5 minutes off")
