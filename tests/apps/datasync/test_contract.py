"""datasync passes the app contract suite."""

from skybridge.testing.contracts.apps import AppContract


class TestDatasyncContract(AppContract):
    app_name = "datasync"
