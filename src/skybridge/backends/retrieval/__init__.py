"""Managed knowledge bases searched by query text: ``connect("bedrock-kb://KBID?region=...")``.

See :mod:`skybridge.backends.retrieval.base` for the contract (read-only, filters pushed down).
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.retrieval.base import SEARCHES, KnowledgeBase, Retrieved, Search
from skybridge.core.registry import Registry

registry: Registry[KnowledgeBase] = Registry("retrieval", KnowledgeBase)  # type: ignore[type-abstract]
registry.register(
    "bedrock-kb", "skybridge.backends.retrieval.bedrock_kb:BedrockKnowledgeBase", extra="aws"
)


def connect(
    url: str, *, setting: str | None = "backends.retrieval", **options: Any
) -> KnowledgeBase:
    """Build the knowledge base ``url`` names.

    Args:
        url: ``bedrock-kb://KNOWLEDGEBASEID?region=us-east-1`` (also ``profile``,
            ``endpoint_url``).
        setting: the config key named in errors.
        **options: backend options (``client``: a ready boto3 client); they win over the URL's.
    """
    return registry.connect(url, setting=setting, **options)


__all__ = ["SEARCHES", "KnowledgeBase", "Retrieved", "Search", "connect", "registry"]
