"""Compute (``/20160918``): ListInstances, GetInstance, InstanceAction, UpdateInstance and
TerminateInstance on instances a test launched with :meth:`ComputeInstances.launch`.

Service rules kept: actions STOP, SOFTSTOP, START, RESET, SOFTRESET only (400 otherwise);
starting or stopping a TERMINATED instance is 409 IncorrectState; UpdateInstance replaces the
free-form and defined tag maps it is given and changes the shape; ListInstances needs a
``compartmentId`` and pages with ``opc-next-page``; terminated instances stay listed.
Simplified: transitions are immediate (no STOPPING/STARTING), shapes are not validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skybridge.core.clock import Clock
from skybridge.testing.oci import errors
from skybridge.testing.oci.ids import etag_of, ocid, rfc3339
from skybridge.testing.oci.paging import page_of
from skybridge.testing.oci.routing import Request, Response, Router, json_response

BASE = "/20160918"
ACTIONS = {
    "STOP": "STOPPED",
    "SOFTSTOP": "STOPPED",
    "START": "RUNNING",
    "RESET": "RUNNING",
    "SOFTRESET": "RUNNING",
}


@dataclass
class EmulatedInstance:
    """One instance's state."""

    id: str
    compartment_id: str
    display_name: str
    shape: str
    region: str
    created: float
    state: str = "RUNNING"
    freeform_tags: dict[str, str] = field(default_factory=dict)
    defined_tags: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "compartmentId": self.compartment_id,
            "availabilityDomain": f"{self.region}-AD-1",
            "displayName": self.display_name,
            "lifecycleState": self.state,
            "shape": self.shape,
            "region": self.region,
            "timeCreated": rfc3339(self.created),
            "freeformTags": self.freeform_tags,
            "definedTags": self.defined_tags,
            "systemTags": {},
        }


class ComputeInstances:
    """The instances, and the REST operations on them."""

    def __init__(self, clock: Clock, region: str) -> None:
        self.clock = clock
        self.region = region
        self.instances: dict[str, EmulatedInstance] = {}

    def launch(
        self,
        compartment_id: str,
        name: str,
        shape: str,
        freeform_tags: dict[str, str] | None = None,
        defined_tags: dict[str, dict[str, Any]] | None = None,
    ) -> EmulatedInstance:
        defined = {k: dict(v) for k, v in (defined_tags or {}).items()}
        instance = EmulatedInstance(
            ocid("instance", self.region),
            compartment_id,
            name,
            shape,
            self.region,
            self.clock.now(),
            freeform_tags=dict(freeform_tags or {}),
            defined_tags=defined,
        )
        self.instances[instance.id] = instance
        return instance

    def register(self, router: Router) -> None:
        router.add("GET", f"{BASE}/instances", "ListInstances", self.list_instances)
        router.add("GET", f"{BASE}/instances/{{instanceId}}", "GetInstance", self.get_instance)
        router.add(
            "POST", f"{BASE}/instances/{{instanceId}}", "InstanceAction", self.instance_action
        )
        router.add(
            "PUT", f"{BASE}/instances/{{instanceId}}", "UpdateInstance", self.update_instance
        )
        router.add(
            "DELETE", f"{BASE}/instances/{{instanceId}}", "TerminateInstance", self.terminate
        )

    def _find(self, request: Request) -> EmulatedInstance:
        instance = self.instances.get(request.params["instanceId"])
        if instance is None:
            raise errors.not_found(f"Instance {request.params['instanceId']}")
        return instance

    def _one(self, instance: EmulatedInstance) -> Response:
        return json_response(instance.to_json(), headers={"etag": self._etag(instance)})

    @staticmethod
    def _etag(instance: EmulatedInstance) -> str:
        return etag_of(*sorted(instance.to_json().items(), key=str))

    def list_instances(self, request: Request) -> Response:
        compartment = request.query.get("compartmentId")
        if not compartment:
            raise errors.missing("compartmentId")
        state = request.query.get("lifecycleState")
        found = [
            i.to_json()
            for i in self.instances.values()
            if i.compartment_id == compartment and (not state or i.state == state)
        ]
        return page_of(request, sorted(found, key=lambda i: (i["timeCreated"], i["id"])))

    def get_instance(self, request: Request) -> Response:
        return self._one(self._find(request))

    def instance_action(self, request: Request) -> Response:
        instance = self._find(request)
        action = request.query.get("action", "")
        if action not in ACTIONS:
            raise errors.invalid(f"action must be one of {', '.join(sorted(ACTIONS))}")
        if instance.state == "TERMINATED":
            raise errors.incorrect_state(f"Instance {instance.id} is TERMINATED")
        instance.state = ACTIONS[action]
        return self._one(instance)

    def update_instance(self, request: Request) -> Response:
        instance = self._find(request)
        expected = request.headers.get("if-match")
        if expected and expected != self._etag(instance):
            raise errors.precondition_failed()
        if instance.state == "TERMINATED":
            raise errors.incorrect_state(f"Instance {instance.id} is TERMINATED")
        body = request.json()
        tags = body.get("freeformTags")
        if tags is not None:
            if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
                raise errors.invalid("freeformTags must map keys to strings")
            instance.freeform_tags = dict(tags)
        defined = body.get("definedTags")
        if defined is not None:
            if not isinstance(defined, dict) or not all(
                isinstance(v, dict) for v in defined.values()
            ):
                raise errors.invalid("definedTags must map namespaces to key/value maps")
            instance.defined_tags = {k: dict(v) for k, v in defined.items()}
        if body.get("shape"):
            instance.shape = str(body["shape"])
        if body.get("displayName"):
            instance.display_name = str(body["displayName"])
        return self._one(instance)

    def terminate(self, request: Request) -> Response:
        instance = self._find(request)
        instance.state = "TERMINATED"
        return Response(204)
