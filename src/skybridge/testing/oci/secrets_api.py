"""Secret retrieval API (``/20190301``): secret bundles by id or by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skybridge.testing.oci import errors
from skybridge.testing.oci.ids import rfc3339
from skybridge.testing.oci.paging import page_of
from skybridge.testing.oci.routing import Request, Response, Router, json_response
from skybridge.testing.oci.stages import ORDER
from skybridge.testing.oci.vault import Secret, SecretVersion, VaultStore

if TYPE_CHECKING:
    from skybridge.testing.oci.audit import AuditLog

BASE = "/20190301"


def _time(value: float | None) -> str | None:
    return None if value is None else rfc3339(value)


def bundle_json(secret: Secret, version: SecretVersion) -> dict[str, Any]:
    return {
        "secretId": secret.id,
        "timeCreated": rfc3339(version.created),
        "versionNumber": version.number,
        "versionName": version.name,
        "secretBundleContent": {"contentType": "BASE64", "content": version.content},
        "timeOfDeletion": _time(version.time_of_deletion),
        "timeOfExpiry": None,
        "stages": list(version.stages),
        "metadata": secret.metadata,
    }


def select_version(secret: Secret, query: dict[str, str]) -> SecretVersion:
    """The version a bundle read asks for; CURRENT when it asks for none."""
    chosen = [k for k in ("versionNumber", "secretVersionName", "stage") if query.get(k)]
    if len(chosen) > 1:
        raise errors.invalid("versionNumber, secretVersionName and stage are mutually exclusive")
    if "versionNumber" in chosen:
        try:
            return secret.version(int(query["versionNumber"]))
        except ValueError:
            raise errors.invalid("versionNumber must be an integer") from None
    if "secretVersionName" in chosen:
        name = query["secretVersionName"]
        found = [v for v in secret.versions if v.name == name]
        if not found:
            raise errors.not_found(f"Secret version named {name}")
        return found[0]
    stage = query.get("stage", "CURRENT")
    if stage not in ORDER:
        raise errors.invalid(f"stage must be one of {', '.join(ORDER)}")
    staged = [v for v in secret.versions if stage in v.stages]
    if not staged:
        raise errors.not_found(f"Secret version in stage {stage}")
    return max(staged, key=lambda v: v.number)


class SecretsApi:
    """Binds the Secrets retrieval operations to ``/20190301`` routes; successful reads are
    recorded in ``audit``."""

    def __init__(self, store: VaultStore, audit: AuditLog | None = None) -> None:
        self.store = store
        self.audit = audit

    def register(self, router: Router) -> None:
        b = f"{BASE}/secretbundles"
        router.add("POST", f"{b}/actions/getByName", "GetSecretBundleByName", self.by_name)
        router.add("GET", f"{b}/{{secretId}}", "GetSecretBundle", self.by_id)
        router.add("GET", f"{b}/{{secretId}}/versions", "ListSecretBundleVersions", self.versions)

    def _readable(self, secret: Secret | None, what: str) -> Secret:
        # A secret pending deletion reads as absent, although its name stays taken.
        if secret is None or secret.state != "ACTIVE":
            raise errors.not_found(what)
        return secret

    def _answer(
        self, request: Request, operation: str, secret: Secret, version: SecretVersion
    ) -> Response:
        if self.audit is not None:
            self.audit.record(request, operation, secret)
        return json_response(bundle_json(secret, version), headers={"etag": secret.etag})

    def by_id(self, request: Request) -> Response:
        secret_id = request.params["secretId"]
        self.store.expire()
        secret = self._readable(self.store.secrets.get(secret_id), f"Secret {secret_id}")
        version = select_version(secret, request.query)
        return self._answer(request, "GetSecretBundle", secret, version)

    def by_name(self, request: Request) -> Response:
        query = request.query
        for required in ("secretName", "vaultId"):
            if not query.get(required):
                raise errors.missing(required)
        found = self.store.by_name(query["vaultId"], query["secretName"])
        secret = self._readable(found, f"Secret {query['secretName']}")
        return self._answer(request, "GetSecretBundleByName", secret, select_version(secret, query))

    def versions(self, request: Request) -> Response:
        secret_id = request.params["secretId"]
        self.store.expire()
        secret = self._readable(self.store.secrets.get(secret_id), f"Secret {secret_id}")
        versions = sorted(secret.versions, key=lambda v: v.number)
        if request.query.get("sortOrder") == "DESC":
            versions.reverse()
        items = [
            {k: v for k, v in bundle_json(secret, version).items() if k != "secretBundleContent"}
            for version in versions
        ]
        if self.audit is not None:
            self.audit.record(request, "ListSecretBundleVersions", secret)
        return page_of(request, items)
