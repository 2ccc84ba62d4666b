"""``oci-ds://<model-deployment-ocid>?region=..``: an OCI Data Science model deployment's
``/predict``, signed with the OCI request signature.

The request is ``POST https://modeldeployment.<region>.oci.customer-oci.com/<ocid>/predict``
(``endpoint=`` names another base, such as skybridge's OCI emulator) with the JSON body
``{"columns": [...], "data": [[...], ...]}``; the answer is ``{"prediction": [...]}`` (or
``predictions``, or a list), as the score.py templates of OCI Data Science return. Credentials
are resolved like every ``oci*`` backend's (config dict, principals or ``~/.oci/config``).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Self

import oci

from skybridge.backends.cloud.oci import NETWORK_ERRORS, resolve_oci_credentials
from skybridge.backends.models.base import ModelEndpoint, Row, parse_columns
from skybridge.backends.models.wire import json_predictions, plain, retry_after_header, status_error
from skybridge.core.errors import ConfigError, TerminalError, TransientError
from skybridge.core.urls import BackendURL

_SETTING = "backends.models"
_OWN = ("features", "endpoint", "timeout", "missing")


def _signer(credentials: Any) -> Any:
    if credentials.signer is not None:
        return credentials.signer
    cfg = credentials.config
    try:
        return oci.signer.Signer(
            tenancy=cfg["tenancy"],
            user=cfg["user"],
            fingerprint=cfg["fingerprint"],
            private_key_file_location=cfg.get("key_file"),
            pass_phrase=cfg.get("pass_phrase"),
            private_key_content=cfg.get("key_content"),
        )
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise ConfigError(
            f"OCI credentials cannot sign requests ({type(exc).__name__})", setting=_SETTING
        ) from None


class OciModelDeployment(ModelEndpoint):
    """An OCI Data Science model deployment.

    Args:
        deployment_id: The model deployment's OCID.
        endpoint: Base URL of the inference service (default the region's).
        config: An oci config dict (else ``auth``/``profile``/``config_file`` params).
        params: ``auth``, ``profile``, ``config_file``, ``region`` as on every oci URL.
        missing: Let missing values through as JSON nulls.
    """

    scheme: ClassVar[str] = "oci-ds"

    def __init__(
        self,
        deployment_id: str,
        *,
        endpoint: str | None = None,
        config: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        missing: bool = False,
        **base: Any,
    ) -> None:
        super().__init__(missing=missing, **base)
        if not deployment_id.startswith("ocid1.datasciencemodeldeployment."):
            raise ConfigError(
                f"'{deployment_id}' is not a model deployment OCID",
                setting=_SETTING,
                hint="write oci-ds://ocid1.datasciencemodeldeployment.oc1.<region>.<id>",
            )
        credentials = resolve_oci_credentials(params or {}, config, setting=_SETTING)
        region = credentials.region
        if endpoint is None and not region:
            raise ConfigError(
                "oci-ds:// needs a region (region= or the OCI config)", setting=_SETTING
            )
        base_url = endpoint or f"https://modeldeployment.{region}.oci.customer-oci.com"
        self.deployment_id = deployment_id
        self.url = f"{base_url.rstrip('/')}/{deployment_id}/predict"
        self._signer = _signer(credentials)
        self._session = oci._vendor.requests.Session()

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        params = url.params
        options.setdefault("columns", parse_columns(params.get("features")))
        options.setdefault("endpoint", params.get("endpoint"))
        options.setdefault("missing", url.flag("missing"))
        if "timeout" in params:
            options.setdefault("timeout", float(params["timeout"]))
        options.setdefault("params", {k: v for k, v in params.items() if k not in _OWN})
        return cls(url.rest.strip("/"), **options)

    def describe(self) -> str:
        return f"oci-ds://{self.deployment_id}"

    def close(self) -> None:
        self._session.close()

    def ping(self) -> None:
        """Predict nothing: the deployment answers an empty batch when it is up."""
        self._post({"columns": list(self.columns or ()), "data": []})

    def _predict(self, rows: list[Row]) -> list[Any]:
        body = {
            "columns": list(self.columns or [str(i) for i in range(len(rows[0]))]),
            "data": rows,
        }
        return [plain(v) for v in json_predictions(self._post(body))]

    def _post(self, body: Any) -> Any:
        data = json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        try:
            response = self._session.post(
                self.url, data=data, headers=headers, auth=self._signer, timeout=self.timeout
            )
        except NETWORK_ERRORS as exc:
            raise TransientError(f"{self.describe()} unreachable: {type(exc).__name__}") from None
        if response.status_code >= 300:
            after = retry_after_header(response.headers.get("retry-after"))
            raise status_error(self.describe(), response.status_code, response.text, after)
        try:
            return response.json()
        except ValueError:
            raise TerminalError(f"{self.describe()} answered something that is not JSON") from None
