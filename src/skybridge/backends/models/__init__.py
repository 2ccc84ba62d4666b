"""Model endpoints: rows of named features in, predictions out.

``connect("local:///models/churn.joblib")`` serves a scikit-learn or ONNX file in this process;
``sagemaker://ENDPOINT?region=..`` calls a SageMaker endpoint, ``oci-ds://<ocid>?region=..``
an OCI Data Science model deployment, ``http(s)://host/v2/models/NAME`` a KServe v2 server.
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.models.base import Instance, ModelEndpoint, Row, parse_columns
from skybridge.core.registry import Registry

registry: Registry[ModelEndpoint] = Registry("models", ModelEndpoint)  # type: ignore[type-abstract]
registry.register("local", "skybridge.backends.models.local:LocalModel", extra="features")
registry.register("http", "skybridge.backends.models.kserve:KServeModel")
registry.register("https", "skybridge.backends.models.kserve:KServeModel")
registry.register("sagemaker", "skybridge.backends.models.sagemaker:SageMakerEndpoint", extra="aws")
registry.register("oci-ds", "skybridge.backends.models.oci_ds:OciModelDeployment", extra="oci")


def connect(url: str, *, setting: str | None = "backends.models", **options: Any) -> ModelEndpoint:
    """Build the model endpoint ``url`` names (options win over URL parameters).

    Args:
        url: e.g. ``local:///abs/model.joblib?features=a,b``, ``sagemaker://churn?region=eu-west-1``,
            ``oci-ds://ocid1.datasciencemodeldeployment...``, ``http://127.0.0.1:8080/v2/models/m``.
        setting: the config key named in errors.
    """
    return registry.connect(url, setting=setting, **options)


__all__ = ["Instance", "ModelEndpoint", "Row", "connect", "parse_columns", "registry"]
