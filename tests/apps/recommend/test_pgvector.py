"""The same serving on PostgreSQL + pgvector: filters run in SQL, versions swap, seen items
stay out."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.recommend.ranking import recommend
from skybridge.apps.recommend.service import Recommender
from skybridge.apps.recommend.training import retrain

pytestmark = pytest.mark.postgres


@pytest.fixture
def pgvector(workdir: Path, postgres_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "SKYBRIDGE__BACKENDS__VECTORS", postgres_server.url.replace("postgresql://", "pgvector://")
    )
    collection = f"recs_{secrets.token_hex(4)}"  # the server is shared by the whole session
    monkeypatch.setenv("SKYBRIDGE__RECOMMEND__COLLECTION", collection)
    return collection


def test_filtered_top_k_and_swap_on_pgvector(pgvector: str, trained: Recommender) -> None:
    assert trained.vectors.scheme == "pgvector"
    profile = trained.profiles.get("B04")
    assert profile is not None
    found = recommend(trained, "B04", k=4, categories=["gamma", "alpha"], record=False)
    assert found.strategy == "personal"
    assert len(found.items) == 4
    assert {r.category for r in found.items} <= {"gamma", "alpha"}
    assert not set(found.ids()) & set(profile["items"])
    assert "a6" not in recommend(trained, "B04", k=17, record=False).ids()
    assert retrain(trained).version == "v0002"
    assert recommend(trained, "B04", record=False).version == "v0002"
    names = {c.name for c in trained.vectors.list_collections()}
    assert {f"{pgvector}_v0001", f"{pgvector}_v0002"} <= names
    for name in (f"{pgvector}_v0001", f"{pgvector}_v0002"):
        trained.vectors.drop_collection(name)
