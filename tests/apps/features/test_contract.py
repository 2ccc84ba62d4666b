"""The features app passes the app contract suite."""

from __future__ import annotations

from skybridge.testing.contracts.apps import AppContract


class TestFeaturesContract(AppContract):
    app_name = "features"
