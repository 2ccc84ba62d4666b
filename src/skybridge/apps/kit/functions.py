"""What the apps' cloud-function entry points share: the payload of an OCI Functions call and
the answer for an SQS message that failed (Lambda's partial batch response)."""

from __future__ import annotations

from typing import Any


def function_payload(data: Any) -> Any:
    """The payload of an OCI Functions ``data`` argument (fdk passes a ``BytesIO``): a byte
    stream read whole, anything else (bytes, text, a dict, ``None``) as given."""
    if hasattr(data, "getvalue"):
        return data.getvalue()
    if hasattr(data, "read"):
        return data.read()
    return data


def failed_message(log: Any, event: str, message_id: str, exc: BaseException) -> dict[str, str]:
    """Log that SQS message ``message_id`` failed and return its ``batchItemFailures`` entry:
    SQS delivers it again, then moves it to the queue's dead-letter queue."""
    log.warning(event, message_id=message_id, error_type=type(exc).__name__, reason=str(exc))
    return {"itemIdentifier": message_id}
