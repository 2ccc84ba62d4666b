"""The service's ``SharedStore``: applied definitions take effect on the next use, even when a
kv read fails on the way or an ``apply`` lands while the store opens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.features import store as store_module
from skybridge.apps.features.config import FeaturesConfig
from skybridge.apps.features.definitions import FeatureView
from skybridge.apps.features.store import SharedStore, shipped_views, store_views
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import NotFound, TransientError
from skybridge.testing.service import fresh_workdir

from .scenario import features_context


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SharedStore]:
    fresh_workdir(tmp_path, monkeypatch)
    shared = SharedStore(features_context())
    yield shared
    shared.close()


def _names(shared: SharedStore) -> list[str]:
    return [v.name for v in shared.get().views]


def test_a_kv_read_failing_once_does_not_keep_the_old_views(
    shared: SharedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = [v.name for v in shipped_views()]
    assert len(shipped) > 1
    assert _names(shared) == shipped
    kv = shared.get().online.kv
    store_views(kv, shipped_views()[:1])  # `skybridge features apply` in another process
    real_get = type(kv).get
    failures = iter([TransientError("kv: connection reset")])

    def flaky_get(self: KeyValueStore, key: str, *args: Any, **kwargs: Any) -> Any:
        if (failure := next(failures, None)) is not None:
            raise failure
        return real_get(self, key, *args, **kwargs)

    monkeypatch.setattr(type(kv), "get", flaky_get)
    with pytest.raises(TransientError):
        shared.get()
    assert _names(shared) == shipped[:1]
    with pytest.raises(NotFound):  # the view the apply removed is gone (a 404)
        shared.get().view(shipped[1])


def test_definitions_applied_while_the_store_opens_take_effect(
    shared: SharedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = [v.name for v in shipped_views()]
    assert len(shipped) > 1
    real_resolve = store_module.resolve_views
    applied: list[bool] = []

    def resolve_then_apply(config: FeaturesConfig, kv: KeyValueStore) -> list[FeatureView]:
        views = real_resolve(config, kv)
        if not applied:  # an apply in another process lands just after the first read
            applied.append(True)
            store_views(kv, shipped_views()[:1])
        return views

    monkeypatch.setattr(store_module, "resolve_views", resolve_then_apply)
    assert _names(shared) == shipped[:1]
    assert _names(shared) == shipped[:1]
