"""Identifiers and timestamps shaped like the real service's."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import UTC, datetime

_ALPHABET = string.ascii_lowercase + string.digits


def ocid(kind: str, region: str) -> str:
    """A fresh OCID such as ``ocid1.vaultsecret.oc1.us-ashburn-1.amaaaaaa...``."""
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(52))
    return f"ocid1.{kind}.oc1.{region}.amaaaaaa{tail}"


def tenancy_ocid() -> str:
    """A tenancy / user style OCID (these carry no region)."""
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(52))
    return f"ocid1.tenancy.oc1..aaaaaaaa{tail}"


def user_ocid() -> str:
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(52))
    return f"ocid1.user.oc1..aaaaaaaa{tail}"


def etag_of(*parts: object) -> str:
    """A stable etag for the given state parts."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def rfc3339(epoch: float) -> str:
    """``2024-01-01T00:00:00.000Z``: the timestamp format OCI JSON bodies use."""
    stamp = datetime.fromtimestamp(epoch, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def http_date(epoch: float) -> str:
    """``Mon, 01 Jan 2024 00:00:00 GMT`` for ``last-modified`` headers."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse_rfc3339(value: str) -> float:
    """Epoch seconds from an RFC 3339 timestamp (``Z`` or an offset)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
