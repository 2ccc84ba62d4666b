"""Lambda on the moto server for tests: a platform URL with an execution role that exists.

moto refuses ``CreateFunction`` unless the role is in its IAM, so::

    url = moto_lambda_url(moto_server)   # aws-lambda://us-east-1?endpoint_url=...&role=...
    platform = skybridge.backends.functions.connect(url)
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3

from skybridge.testing.servers import RunningServer

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
    '{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


def moto_lambda_url(server: RunningServer, region: str = "us-east-1") -> str:
    """``aws-lambda://`` on ``server`` with a new execution role made in its IAM."""
    iam: Any = boto3.client("iam", region_name=region, endpoint_url=server.url)
    name = f"lambda-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    return f"aws-lambda://{region}?endpoint_url={server.url}&role={role}"
