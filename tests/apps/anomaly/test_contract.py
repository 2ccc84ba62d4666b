"""anomaly against the app contract suite."""

from skybridge.testing.contracts.apps import AppContract


class TestAnomalyContract(AppContract):
    app_name = "anomaly"
