"""Compute: the instances cost policies stop, tag, resize or terminate.

``connect("aws-ec2://eu-west-1")``, ``connect("oci-compute://<compartment-ocid>")`` or
``connect("embedded://.skybridge/compute")`` (a local fleet for demos and tests) builds a
:class:`ComputeFleet`.
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.compute.base import ComputeFleet, Instance, State
from skybridge.core.registry import Registry

__all__ = ["ComputeFleet", "Instance", "State", "connect", "registry"]

registry: Registry[ComputeFleet] = Registry("compute", ComputeFleet)  # type: ignore[type-abstract]
registry.register("embedded", "skybridge.backends.compute.embedded:EmbeddedFleet")
registry.register("aws-ec2", "skybridge.backends.compute.aws_ec2:Ec2Fleet", extra="aws")
registry.register("oci-compute", "skybridge.backends.compute.oci_compute:OciFleet", extra="oci")


def connect(url: str, *, setting: str | None = "backends.compute", **options: Any) -> ComputeFleet:
    """Build the fleet for ``url``.

    Args:
        url: ``embedded://PATH``, ``aws-ec2://REGION?endpoint_url=...``,
            ``oci-compute://COMPARTMENT_OCID?region=...&endpoint=...`` (OCI credentials as for
            the other ``oci*`` backends: ``config_file``, ``profile``, ``auth``).
        setting: The config key named in errors.
        **options: Implementation options (``config=`` an oci config dict, ``clock=``).
    """
    return registry.connect(url, setting=setting, **options)
