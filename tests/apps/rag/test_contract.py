"""The rag app passes the app contract."""

from skybridge.testing.contracts.apps import AppContract


class TestRagContract(AppContract):
    app_name = "rag"
