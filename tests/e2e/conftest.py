"""Browser tests share one headless Chromium (the plugin's ``skybridge_chromium``)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def chromium(skybridge_chromium: Any) -> Any:
    return skybridge_chromium
