from __future__ import annotations

import pytest

from skybridge.backends import kv as kv_family


@pytest.fixture
def kv_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/runtime-kv.db"


@pytest.fixture
def kv(kv_url):
    store = kv_family.connect(kv_url)
    yield store
    store.close()
