"""The ``pgvector://`` store on embedded PostgreSQL 18 + pgvector: the contract and its scans."""

from __future__ import annotations

from typing import Any

import pytest

from skybridge.backends.vectors import connect
from skybridge.testing.contracts.vectors import VectorsContract

pytestmark = pytest.mark.postgres


class TestPgVector(VectorsContract):
    @pytest.fixture
    def make_store(self, postgres_server: Any) -> Any:
        url = postgres_server.url.replace("postgresql://", "pgvector://")
        return lambda: connect(url)


def test_pgvector_is_new_enough_for_iterative_scans(postgres_server: Any) -> None:
    with connect(postgres_server.url) as store:
        store.ping()
