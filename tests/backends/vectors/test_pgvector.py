"""The ``pgvector://`` store on embedded PostgreSQL 18 + pgvector: the contract and its scans."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from skybridge.backends.vectors import VectorRecord, connect
from skybridge.core.errors import TransientError
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


def test_a_connection_the_server_dropped_is_made_again(postgres_server: Any) -> None:
    url = postgres_server.url.replace("postgresql://", "pgvector://") + "?prefix=redial"
    with connect(url) as store, psycopg.connect(postgres_server.url, autocommit=True) as admin:
        store.ensure_collection("docs", 2)
        store.upsert("docs", [VectorRecord("a", [1.0, 0.0])])
        # the server ends the store's session (a restart, failover or idle-killing proxy)
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (store.conn.info.backend_pid,))
        with pytest.raises(TransientError):
            store.upsert("docs", [VectorRecord("b", [0.0, 1.0])])  # its outcome is unknown
        assert [r.id for r in store.get("docs", ["a"])] == ["a"]
        store.upsert("docs", [VectorRecord("b", [0.0, 1.0])])
        assert store.count("docs") == 2
