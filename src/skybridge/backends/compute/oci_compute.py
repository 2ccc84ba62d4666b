"""``oci-compute://COMPARTMENT_OCID``: OCI Compute instances (stop, start, tag, resize,
terminate) through the OCI SDK.

URL parameters: ``region``, ``endpoint`` (the skybridge OCI emulator in tests), ``auth``,
``profile``, ``config_file``, ``timeout``. Tags: a key ``Namespace.Key`` is a defined tag, any
other key a free-form tag; both show in :attr:`Instance.tags` the same way. Utilisation (OCI
Monitoring) is not a capability here yet: idle policies skip OCI instances and say why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self, TypeVar

import oci

from skybridge.backends.cloud.oci import (
    build_oci_client,
    credential_params,
    resolve_oci_credentials,
    translate_client_side_error,
    translate_service_error,
)
from skybridge.backends.compute.base import ComputeFleet, Instance, State, missing
from skybridge.core.errors import ConfigError, Conflict, TransientError
from skybridge.core.urls import BackendURL

T = TypeVar("T")
_SETTING = "backends.compute"
#: Reads and writes of an instance's tags before giving up on a writer changing it meanwhile.
_TAG_ATTEMPTS = 5
_STATES: dict[str, State] = {
    "PROVISIONING": "pending",
    "STARTING": "pending",
    "RUNNING": "running",
    "STOPPING": "stopping",
    "STOPPED": "stopped",
    "TERMINATING": "stopping",
    "TERMINATED": "terminated",
}


def instance_tags(raw: Any) -> dict[str, str]:
    """Free-form tags as they are, defined tags as ``Namespace.Key``."""
    tags = {str(k): str(v) for k, v in (raw.freeform_tags or {}).items()}
    for namespace, values in (raw.defined_tags or {}).items():
        tags.update({f"{namespace}.{k}": str(v) for k, v in values.items()})
    return tags


class OciFleet(ComputeFleet):
    """The Compute instances of one compartment."""

    capabilities = frozenset({"resize", "terminate"})
    provider = "oci"

    def __init__(
        self,
        compartment_id: str,
        *,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
        timeout: float = 10.0,
        **params: Any,
    ) -> None:
        if not compartment_id.startswith(("ocid1.compartment.", "ocid1.tenancy.")):
            raise ConfigError(
                f"'{compartment_id}' is not a compartment OCID",
                setting=_SETTING,
                hint="write oci-compute://ocid1.compartment.oc1..<id>",
            )
        self.compartment_id = compartment_id
        credentials = resolve_oci_credentials(params, config, setting=_SETTING)
        self.region = credentials.region or ""
        self._client: Any = build_oci_client(
            oci.core.ComputeClient,
            credentials,
            setting=_SETTING,
            endpoint=endpoint,
            timeout=(timeout, timeout),
        )

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        params = credential_params(url.params)
        if "endpoint" in url.params:
            options["endpoint"] = url.params["endpoint"]
        if "timeout" in url.params:
            options["timeout"] = float(url.params["timeout"])
        return cls(url.rest.strip("/"), **params, **options)

    def describe(self) -> str:
        return f"oci-compute://{self.compartment_id}"

    def ping(self) -> None:
        self._call(
            self.compartment_id, lambda: self._client.list_instances(self.compartment_id, limit=1)
        )

    def _call(self, subject: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except oci.exceptions.ServiceError as exc:
            text = f"OCI Compute {exc.status} {exc.code} on {subject}: {exc.message}"
            raise translate_service_error(
                exc, text, not_found=f"no OCI instance {subject!r}"
            ) from None
        except Exception as exc:
            error = translate_client_side_error(
                exc, unreachable="OCI Compute unreachable", setting=_SETTING
            )
            if error is not None:
                raise error from None
            if isinstance(exc, OSError):
                raise TransientError(f"OCI Compute unreachable: {type(exc).__name__}") from None
            raise

    def _instance(self, raw: Any) -> Instance:
        tags = instance_tags(raw)
        return Instance(
            id=raw.id,
            name=raw.display_name or raw.id,
            state=_STATES.get(str(raw.lifecycle_state), "other"),
            size=raw.shape,
            tags=tags,
            region=raw.region or self.region,
            provider=self.provider,
            launched_at=raw.time_created,
        )

    def _list(self) -> Iterator[Instance]:
        def every_page() -> list[Any]:
            pages = oci.pagination.list_call_get_all_results(
                self._client.list_instances, self.compartment_id
            )
            return list(pages.data)

        yield from (self._instance(raw) for raw in self._call(self.compartment_id, every_page))

    def _get(self, instance_id: str) -> Instance:
        if not instance_id.startswith("ocid1.instance."):
            raise missing("OCI", instance_id)
        return self._instance(
            self._call(instance_id, lambda: self._client.get_instance(instance_id).data)
        )

    def _action(self, instance_id: str, action: str) -> None:
        self._call(instance_id, lambda: self._client.instance_action(instance_id, action))

    def _stop(self, instance_id: str) -> None:
        self._action(instance_id, "SOFTSTOP")

    def _start(self, instance_id: str) -> None:
        self._action(instance_id, "START")

    def _update(self, instance_id: str, **fields: Any) -> None:
        details = oci.core.models.UpdateInstanceDetails(**fields)
        self._call(instance_id, lambda: self._client.update_instance(instance_id, details))

    def _set_tags(self, instance_id: str, tags: Mapping[str, str]) -> None:
        """Merge ``tags`` into the instance's tags: read, merge, write back under the etag read
        (``if-match``), so a tag another writer set meanwhile is not lost; read again on 412."""
        for _ in range(_TAG_ATTEMPTS):
            response = self._call(instance_id, lambda: self._client.get_instance(instance_id))
            raw, etag = response.data, response.headers.get("etag")
            freeform = dict(raw.freeform_tags or {})
            defined = {ns: dict(values) for ns, values in (raw.defined_tags or {}).items()}
            for key, value in tags.items():
                namespace, dot, name = key.partition(".")
                if dot and namespace and name:
                    defined.setdefault(namespace, {})[name] = value
                else:
                    freeform[key] = value
            details = oci.core.models.UpdateInstanceDetails(
                freeform_tags=freeform, defined_tags=defined
            )

            def update(details: Any = details, etag: str | None = etag) -> bool:
                try:
                    self._client.update_instance(instance_id, details, if_match=etag)
                except oci.exceptions.ServiceError as exc:
                    if int(exc.status) == 412:  # changed since it was read
                        return False
                    raise
                return True

            if self._call(instance_id, update):
                return
        raise Conflict(f"OCI instance {instance_id!r} kept changing while tagging; try again")

    def _resize(self, instance_id: str, size: str) -> None:
        self._update(instance_id, shape=size)

    def _terminate(self, instance_id: str) -> None:
        self._call(instance_id, lambda: self._client.terminate_instance(instance_id))
