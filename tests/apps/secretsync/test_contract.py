"""secretsync against the app contract suite."""

from skybridge.testing.contracts.apps import AppContract


class TestSecretsyncContract(AppContract):
    app_name = "secretsync"
