"""assertions against the app contract suite."""

from skybridge.testing.contracts.apps import AppContract


class TestAssertionsContract(AppContract):
    app_name = "assertions"
