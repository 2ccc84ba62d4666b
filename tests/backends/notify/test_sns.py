"""sns://: Publish on the moto server, read back from an SQS queue subscribed to the topic."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.backends import notify
from skybridge.backends.notify import Notification, Notifier
from skybridge.backends.notify.sns import SnsNotifier, sns_subject
from skybridge.core.errors import ConfigError, TransientError
from skybridge.testing.contracts.notify import NotifierContract
from skybridge.testing.servers import RunningServer

from .conftest import HttpReceiver

pytestmark = pytest.mark.moto

THROTTLED = b"""<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
<RequestId>r1</RequestId></ErrorResponse>"""
UNAVAILABLE = THROTTLED.replace(b"Throttling", b"ServiceUnavailable")


class TopicInbox:
    """An SNS topic with an SQS queue subscribed to it."""

    def __init__(self, endpoint: str, *, fifo: bool = False) -> None:
        name = f"alerts-{uuid.uuid4().hex[:8]}" + (".fifo" if fifo else "")
        self.sns: Any = boto3.client("sns", region_name="us-east-1", endpoint_url=endpoint)
        self.sqs: Any = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
        fifo_attrs = {"FifoTopic": "true"} if fifo else {}
        self.topic_arn = self.sns.create_topic(Name=name, Attributes=fifo_attrs)["TopicArn"]
        queue_attrs = {"FifoQueue": "true"} if fifo else {}
        self.queue_url = self.sqs.create_queue(QueueName=name, Attributes=queue_attrs)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self.received: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=300,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return self.received
            for message in batch:
                self.received.append(message)
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def texts(self) -> list[str]:
        out = []
        for message in self.drain():
            envelope = json.loads(message["Body"])
            attributes = json.dumps(envelope.get("MessageAttributes", {}))
            out.append(f"{envelope.get('Subject', '')}\n{envelope['Message']}\n{attributes}")
        return out


def sns_url(arn: str, endpoint: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"endpoint_url": endpoint, **params}.items())
    return f"sns://{arn}?{query}"


@pytest.fixture
def topic(moto_server: RunningServer) -> TopicInbox:
    return TopicInbox(moto_server.url)


class TestSns(NotifierContract):
    @pytest.fixture
    def notify(self, topic: TopicInbox, moto_server: RunningServer) -> Callable[..., Notifier]:
        def build(clock: object = None, **params: str) -> Notifier:
            return notify.connect(sns_url(topic.topic_arn, moto_server.url, **params), clock=clock)

        return build

    @pytest.fixture
    def delivered(self, topic: TopicInbox) -> Callable[[], list[str]]:
        return topic.texts

    @pytest.fixture
    def failing_notify(
        self, topic: TopicInbox, moto_server: RunningServer, http_receiver: HttpReceiver
    ) -> Callable[[str], tuple[Notifier, float | None]]:
        def build(kind: str) -> tuple[Notifier, float | None]:
            if kind == "rejected":
                missing = topic.topic_arn.rsplit(":", 1)[0] + ":no-such-topic"
                return notify.connect(sns_url(missing, moto_server.url)), None
            if kind == "throttled":
                http_receiver.reply_next(400, THROTTLED, {"Retry-After": "2"})
                return notify.connect(sns_url(topic.topic_arn, http_receiver.url)), 2.0
            http_receiver.reply_next(503, UNAVAILABLE)
            return notify.connect(sns_url(topic.topic_arn, http_receiver.url)), None

        return build

    @pytest.fixture
    def credential(self) -> None:
        return None


def test_subject_and_attributes(topic: TopicInbox, moto_server: RunningServer) -> None:
    notifier = notify.connect(sns_url(topic.topic_arn, moto_server.url))
    title = "Résumé of the night: " + "x" * 200 + "\nsecond line"
    delivery = notifier.send(
        Notification(title=title, severity="warning", source="costs", dedup_key="k1")
    )
    (message,) = topic.drain()
    envelope = json.loads(message["Body"])
    assert envelope["MessageId"] == delivery.message_id
    subject = envelope["Subject"]
    assert subject.startswith("[WARNING] Resume of the night: xxx")
    assert len(subject) == 100
    assert subject.endswith("...")
    attributes = envelope["MessageAttributes"]
    assert attributes["severity"] == {"Type": "String", "Value": "warning"}
    assert attributes["source"]["Value"] == "costs"
    assert attributes["dedup_key"]["Value"] == "k1"


def test_fifo_topic_gets_group_and_dedup_ids(moto_server: RunningServer) -> None:
    topic = TopicInbox(moto_server.url, fifo=True)
    notifier = notify.connect(sns_url(topic.topic_arn, moto_server.url))
    assert notifier.supports("fifo")
    notifier.send(Notification(title="fifo alert", dedup_key="incident-9"))
    (message,) = topic.drain()
    system = message["Attributes"]
    assert system["MessageGroupId"] == "incident-9"
    assert len(system["MessageDeduplicationId"]) == 64


def test_arn_url_round_trips_region_and_repr(moto_server: RunningServer) -> None:
    arn = "arn:aws:sns:eu-west-1:123456789012:ops-alerts"
    notifier = notify.connect(f"sns://{arn}?endpoint_url={moto_server.url}")
    assert isinstance(notifier, SnsNotifier)
    assert notifier.topic_arn == arn
    assert notifier._client.meta.region_name == "eu-west-1"
    assert repr(notifier) == f"SnsNotifier(sns://{arn})"


def test_ping(topic: TopicInbox, moto_server: RunningServer) -> None:
    notify.connect(sns_url(topic.topic_arn, moto_server.url)).ping()


def test_not_an_arn_is_config_error() -> None:
    with pytest.raises(ConfigError, match="not an SNS topic ARN"):
        notify.connect("sns://alerts")


def test_connection_refused_is_transient(topic: TopicInbox) -> None:
    from skybridge.testing.servers import free_port

    url = sns_url(topic.topic_arn, f"http://127.0.0.1:{free_port()}", timeout="2")
    with pytest.raises(TransientError, match="SNS unreachable"):
        notify.connect(url).send(Notification(title="x"))


@given(st.text(max_size=300))
def test_sns_subject_rules(text: str) -> None:
    subject = sns_subject(text)
    assert 1 <= len(subject) <= 100
    assert subject.isascii()
    assert subject.isprintable()
    assert subject == subject.strip()
