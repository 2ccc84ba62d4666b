"""Notifications (``/20181201``): PublishMessage onto topics the test created, and GetTopic."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from skybridge.core.clock import Clock
from skybridge.testing.oci import errors
from skybridge.testing.oci.ids import etag_of, ocid, rfc3339
from skybridge.testing.oci.routing import Request, Response, Router, json_response

BASE = "/20181201"
MAX_BODY_BYTES = 64 * 1024  # documented ONS message size limit
MESSAGE_TYPES = ("JSON", "RAW_TEXT")


@dataclass(frozen=True)
class PublishedMessage:
    """One message a client published."""

    message_id: str
    topic_id: str
    title: str | None
    body: str
    message_type: str
    time: float


class Notifications:
    """Topics and the messages published to them."""

    def __init__(self, clock: Clock, region: str) -> None:
        self.clock = clock
        self.region = region
        self.topics: dict[str, str] = {}  # topic id -> name
        self.created: dict[str, float] = {}
        self.messages: dict[str, list[PublishedMessage]] = {}

    def create_topic(self, name: str) -> str:
        topic_id = ocid("onstopic", self.region)
        self.topics[topic_id] = name
        self.created[topic_id] = self.clock.now()
        self.messages[topic_id] = []
        return topic_id

    def register(self, router: Router) -> None:
        router.add("POST", f"{BASE}/topics/{{topicId}}/messages", "PublishMessage", self.publish)
        router.add("GET", f"{BASE}/topics/{{topicId}}", "GetTopic", self.get_topic)

    def get_topic(self, request: Request) -> Response:
        """Control-plane GetTopic, enough for a client's reachability check."""
        topic_id = request.params["topicId"]
        if topic_id not in self.topics:
            raise errors.not_found(f"Topic {topic_id}")
        etag = etag_of(topic_id)
        topic: dict[str, object] = {
            "name": self.topics[topic_id],
            "topicId": topic_id,
            "shortTopicId": topic_id[-10:],
            "compartmentId": None,
            "lifecycleState": "ACTIVE",
            "description": None,
            "timeCreated": rfc3339(self.created[topic_id]),
            "etag": etag,
            "freeformTags": {},
            "definedTags": {},
            "apiEndpoint": None,
        }
        return json_response(topic, headers={"etag": etag})

    def publish(self, request: Request) -> Response:
        topic_id = request.params["topicId"]
        if topic_id not in self.topics:
            raise errors.not_found(f"Topic {topic_id}")
        body = request.json()
        text = body.get("body")
        if not isinstance(text, str):
            raise errors.missing("body")
        if len(text.encode()) > MAX_BODY_BYTES:
            raise errors.invalid(f"Message body exceeds {MAX_BODY_BYTES} bytes")
        message_type = request.headers.get("messagetype", "JSON").upper()
        if message_type not in MESSAGE_TYPES:
            raise errors.invalid(f"messageType must be one of {', '.join(MESSAGE_TYPES)}")
        message = PublishedMessage(
            message_id=str(uuid.uuid4()),
            topic_id=topic_id,
            title=body.get("title"),
            body=text,
            message_type=message_type,
            time=self.clock.now(),
        )
        self.messages[topic_id].append(message)
        return json_response({"messageId": message.message_id, "timeStamp": rfc3339(message.time)})
