"""Data Science model deployments: the signed ``POST /<deployment-ocid>/predict`` of the
inference endpoint, answered by a Python function the test deploys.

The body is whatever JSON the client sends (skybridge's ``oci-ds://`` backend sends
``{"columns": [...], "data": [[...]]}``); the deployed function gets it and returns the JSON
answer (``{"prediction": [...]}`` for the score.py templates OCI documents). A function that
raises ``ValueError`` answers 400, as a score.py that rejects its input does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from skybridge.testing.oci import errors
from skybridge.testing.oci.ids import ocid
from skybridge.testing.oci.routing import Request, Response, Router, json_response

#: A deployed model: the request's JSON body in, the answer's JSON body out.
Predictor = Callable[[Any], Any]


class ModelDeployments:
    """Deployed predictors by model deployment OCID."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.deployed: dict[str, Predictor] = {}

    def deploy(self, predictor: Predictor) -> str:
        deployment_id = ocid("datasciencemodeldeployment", self.region)
        self.deployed[deployment_id] = predictor
        return deployment_id

    def register(self, router: Router) -> None:
        router.add("POST", "/{deploymentId}/predict", "PredictWithResponseStream", self.predict)

    def predict(self, request: Request) -> Response:
        predictor = self.deployed.get(request.params["deploymentId"])
        if predictor is None:
            raise errors.not_found(f"Model deployment {request.params['deploymentId']}")
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            raise errors.invalid("Request body is not valid JSON") from None
        try:
            return json_response(predictor(body))
        except ValueError as exc:
            raise errors.invalid(f"The model rejected the input: {exc}") from None
