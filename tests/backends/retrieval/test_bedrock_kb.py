"""Bedrock Knowledge Bases ``Retrieve`` against its documented request and response shapes.

No Bedrock service can run here (moto has no ``bedrock-agent-runtime``), so the contract runs
against :class:`~skybridge.testing.bedrock_kb.KnowledgeBaseServer` through real signed boto3
calls, the exact requests are checked with botocore's Stubber (which validates them and the
answers against the service model), and the contract against a live knowledge base is a strict
xfail that says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from skybridge.backends.retrieval import KnowledgeBase, connect
from skybridge.backends.retrieval.bedrock_kb import BedrockKnowledgeBase
from skybridge.core.errors import (
    ConfigError,
    NotFound,
    PermissionDenied,
    TransientError,
    ValidationError,
)
from skybridge.testing.bedrock_kb import KnowledgeBaseServer, StoredPassage
from skybridge.testing.contracts.retrieval import CORPUS, RetrievalContract

KB = "KBTEST0001"
NO_SERVICE = (
    "no Bedrock knowledge base is reachable from this machine (managed AWS service, no "
    "emulator; moto has no bedrock-agent-runtime): set SKYBRIDGE_TEST_BEDROCK_KB=<id> with AWS "
    "credentials and a knowledge base synced from the contract's CORPUS to run it"
)


def stored() -> list[StoredPassage]:
    return [
        StoredPassage(f"chunk-{n}", d.text, f"s3://kb-docs/{d.key}", d.metadata)
        for n, d in enumerate(CORPUS)
    ]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[KnowledgeBaseServer]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with KnowledgeBaseServer({KB: stored()}, page_size=2) as running:
        yield running


def kb_at(server: KnowledgeBaseServer, kb: str = KB) -> KnowledgeBase:
    return connect(f"bedrock-kb://{kb}?region=us-east-1&endpoint_url={server.url}")


class TestBedrockKnowledgeBase(RetrievalContract):
    @pytest.fixture
    def knowledge_base(self, server: KnowledgeBaseServer) -> KnowledgeBase:
        return kb_at(server)


@pytest.mark.xfail(strict=True, reason=NO_SERVICE)
class TestBedrockKnowledgeBaseLive(RetrievalContract):
    @pytest.fixture
    def knowledge_base(self) -> KnowledgeBase:
        kb = os.environ.get("SKYBRIDGE_TEST_BEDROCK_KB")
        if not kb:
            raise ConfigError("SKYBRIDGE_TEST_BEDROCK_KB is not set", hint=NO_SERVICE)
        return connect(f"bedrock-kb://{kb}")


def stubbed() -> tuple[BedrockKnowledgeBase, Stubber]:
    client = boto3.client(
        "bedrock-agent-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    kb = connect(f"bedrock-kb://{KB}", client=client)
    assert isinstance(kb, BedrockKnowledgeBase)
    return kb, Stubber(client)


DOCUMENTED_RESULT: dict[str, Any] = {
    "content": {"type": "TEXT", "text": "Base backups are kept for 35 days."},
    "location": {"type": "S3", "s3Location": {"uri": "s3://kb-docs/runbooks/backups.md"}},
    "metadata": {
        "team": "ops",
        "year": 2024,
        "x-amz-bedrock-kb-source-uri": "s3://kb-docs/runbooks/backups.md",
        "x-amz-bedrock-kb-chunk-id": "1a2b3c4d-0001",
        "x-amz-bedrock-kb-data-source-id": "DSTEST0001",
    },
    "score": 0.83,
}


def test_the_request_is_bedrocks_documented_shape() -> None:
    kb, stubber = stubbed()
    expected = {
        "knowledgeBaseId": KB,
        "retrievalQuery": {"text": "how long are backups kept?"},
        "retrievalConfiguration": {
            "vectorSearchConfiguration": {
                "numberOfResults": 3,
                "overrideSearchType": "HYBRID",
                "filter": {
                    "andAll": [
                        {"in": {"key": "team", "value": ["ops", "it"]}},
                        {"greaterThanOrEquals": {"key": "year", "value": 2023}},
                        {"lessThan": {"key": "year", "value": 2025}},
                    ]
                },
            }
        },
    }
    stubber.add_response("retrieve", {"retrievalResults": [DOCUMENTED_RESULT]}, expected)
    with stubber:
        found = kb.retrieve(
            "how long are backups kept?",
            k=3,
            search="hybrid",
            flt={"team": {"in": ["ops", "it"]}, "year": {"gte": 2023, "lt": 2025}},
        )
    stubber.assert_no_pending_responses()
    assert [r.to_dict() for r in found] == [
        {
            "id": "1a2b3c4d-0001",
            "text": "Base backups are kept for 35 days.",
            "score": 0.83,
            "source": "s3://kb-docs/runbooks/backups.md",
            "document": "s3://kb-docs/runbooks/backups.md",
            "metadata": DOCUMENTED_RESULT["metadata"],
        }
    ]


def test_one_condition_is_sent_bare_and_pages_are_followed() -> None:
    kb, stubber = stubbed()
    base = {
        "knowledgeBaseId": KB,
        "retrievalQuery": {"text": "backups"},
        "retrievalConfiguration": {
            "vectorSearchConfiguration": {
                "numberOfResults": 2,
                "filter": {"equals": {"key": "team", "value": "ops"}},
            }
        },
    }
    second = {**DOCUMENTED_RESULT, "score": 0.5, "metadata": {"team": "ops"}}
    stubber.add_response("retrieve", {"retrievalResults": [DOCUMENTED_RESULT], "nextToken": "p2"})
    stubber.add_response("retrieve", {"retrievalResults": [second]}, {**base, "nextToken": "p2"})
    with stubber:
        found = kb.retrieve("backups", k=2, flt={"team": "ops"})
    assert [r.score for r in found] == [0.83, 0.5]
    assert found[1].id.startswith("s3://kb-docs/runbooks/backups.md#")  # no chunk id given


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ResourceNotFoundException", 404, NotFound),
        ("ThrottlingException", 429, TransientError),
        ("ValidationException", 400, ValidationError),
        ("AccessDeniedException", 403, PermissionDenied),
        ("DependencyFailedException", 424, TransientError),
    ],
)
def test_service_errors_are_translated(code: str, status: int, error: type[Exception]) -> None:
    kb, stubber = stubbed()
    stubber.add_client_error("retrieve", code, "no", http_status_code=status)
    with stubber, pytest.raises(error):
        kb.retrieve("backups")


def test_filters_bedrock_cannot_express_are_refused_without_a_call() -> None:
    kb, stubber = stubbed()
    with stubber:
        with pytest.raises(ValidationError, match="as a number"):
            kb.retrieve("backups", flt={"updated": {"gte": "2024-01-01"}})
        with pytest.raises(ValidationError, match="null"):
            kb.retrieve("backups", flt={"owner": None})
    stubber.assert_no_pending_responses()


def test_signed_calls_reach_the_endpoint_and_errors_come_back_typed(
    server: KnowledgeBaseServer,
) -> None:
    assert len(kb_at(server).retrieve("backups kept", k=5)) == 5  # three pages of two
    assert [r["body"].get("nextToken") for r in server.requests] == [None, "2", "4"]
    with pytest.raises(NotFound, match="KBMISSING1"):
        kb_at(server, "KBMISSING1").retrieve("backups")
    server.fail_next(429, "ThrottlingException", times=5)
    with pytest.raises(TransientError):
        kb_at(server).retrieve("backups")


def test_a_bad_knowledge_base_id_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="knowledge base id"):
        connect("bedrock-kb://not-an-id?region=us-east-1")
    with pytest.raises(ConfigError, match="unknown"):
        connect(f"bedrock-kb://{KB}?region=us-east-1", colour="blue")
