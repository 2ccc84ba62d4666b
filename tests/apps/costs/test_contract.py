"""The costs app passes the app contract suite."""

from skybridge.testing.contracts.apps import AppContract


class TestCostsContract(AppContract):
    app_name = "costs"
