"""Answer models: ``connect("extractive://")`` (default, no model), ``openai+https://``,
``bedrock://``, ``oci-genai://``.

See :mod:`skybridge.backends.llm.base` for the contract: every answer carries citations.
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.llm.base import NOTHING_FOUND, Answer, Citation, LanguageModel, Passage
from skybridge.core.registry import Registry

registry: Registry[LanguageModel] = Registry("llm", LanguageModel)  # type: ignore[type-abstract]
registry.register("extractive", "skybridge.backends.llm.extractive:ExtractiveModel")
for _scheme in ("openai+https", "openai+http"):
    registry.register(_scheme, "skybridge.backends.llm.openai_compatible:OpenAIChatModel")
registry.register("bedrock", "skybridge.backends.llm.bedrock:BedrockChatModel", extra="aws")
registry.register("oci-genai", "skybridge.backends.llm.oci_genai:OciGenAiChatModel", extra="oci")


def connect(url: str, *, setting: str | None = "backends.llm", **options: Any) -> LanguageModel:
    """Build the answer model ``url`` names.

    Args:
        url: ``extractive://`` (no model), ``openai+https://api.openai.com/v1?model=gpt-4o-mini``,
            ``bedrock://anthropic.claude-3-5-haiku-20241022-v1:0?region=us-east-1``,
            ``oci-genai://meta.llama-3.3-70b-instruct?compartment=OCID&region=us-chicago-1``.
        setting: the config key named in errors.
        **options: backend options; they win over URL parameters.
    """
    return registry.connect(url, setting=setting, **options)


__all__ = ["NOTHING_FOUND", "Answer", "Citation", "LanguageModel", "Passage", "connect", "registry"]
