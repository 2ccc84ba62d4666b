"""Suite-wide fixtures."""

from __future__ import annotations

import pytest

from skybridge.core.secret import forget_known_secrets


@pytest.fixture(autouse=True)
def _independent_redaction() -> None:
    """Each test starts with no remembered secret values, so scrubbing cannot depend on order."""
    forget_known_secrets()
