"""Suite-wide fixtures."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from skybridge.core.observability import configure_logging
from skybridge.core.secret import forget_known_secrets


@pytest.fixture(autouse=True)
def _independent_redaction() -> None:
    """Each test starts with no remembered secret values, so scrubbing cannot depend on order."""
    forget_known_secrets()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything logged (JSON lines, DEBUG and up) while the test runs."""
    stream = io.StringIO()
    configure_logging("DEBUG", json_output=True, stream=stream)
    yield stream
    configure_logging("INFO", json_output=True)
