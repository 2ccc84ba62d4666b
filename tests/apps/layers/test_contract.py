"""The layers app passes the app contract suite."""

from skybridge.testing.contracts.apps import AppContract


class TestLayersContract(AppContract):
    app_name = "layers"
