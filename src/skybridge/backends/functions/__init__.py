"""Function platforms: layer versions, functions, aliases, metrics and alarms.

``connect("aws-lambda://eu-west-1")`` builds a :class:`FunctionPlatform` on AWS Lambda and
CloudWatch; ``connect("embedded://.skybridge/functions")`` one in a local folder::

    with functions.connect(url) as platform:
        layer = platform.publish_layer_version("deps", zip_bytes, runtimes=["python3.12"])
        platform.layer_references()   # layer version ARN -> function versions using it
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.functions.base import (
    Alias,
    FunctionConfig,
    FunctionPlatform,
    Grant,
    LayerVersion,
    Metric,
    parse_layer_arn,
)
from skybridge.core.registry import Registry

__all__ = [
    "Alias",
    "FunctionConfig",
    "FunctionPlatform",
    "Grant",
    "LayerVersion",
    "Metric",
    "connect",
    "parse_layer_arn",
    "registry",
]

registry: Registry[FunctionPlatform] = Registry("functions", FunctionPlatform)  # type: ignore[type-abstract]
registry.register("embedded", "skybridge.backends.functions.embedded:EmbeddedFunctions")
registry.register("aws-lambda", "skybridge.backends.functions.aws:LambdaPlatform", extra="aws")


def connect(
    url: str, *, setting: str | None = "backends.functions", **options: Any
) -> FunctionPlatform:
    """Build the function platform for ``url``.

    Args:
        url: ``embedded://FOLDER`` or ``aws-lambda://REGION?endpoint_url=..&bucket=..``
            (``bucket``: an S3 bucket for layer zips over Lambda's 50 MB direct upload).
        setting: The config key named in errors.
    """
    return registry.connect(url, setting=setting, **options)
